"""Limits mode "rlimit" (no cgroup delegated, as in every Kubernetes pod), forced on this host
with SENTINEL_LIMITS=rlimit: processes, memory and CPU time held per run, with honest verdicts
(functions/rlimits.py, functions/process_tree.py), through the real sandbox and toolchains.

The executor runs in a child process (the mode is chosen once per process), as root (bwrap
switched to the user `sentinel`, rlimits through prlimit(1)) and as the unprivileged user
`sentinel` itself (rlimits through prlimit(2); RLIMIT_NPROC is enforced for neither, and the
executor's own threads share the sandbox's host uid there). The child takes one JSON request a
line on stdin and answers each with a JSON line.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_languages import HELLO

REPO = Path(__file__).resolve().parents[1]
# In the child: EXTRA_THREADS idle threads of its own (they share the sandboxes' host uid when
# it is unprivileged), then one request a line: {"runs": [submission, ...]} run at once; each
# answer is a line starting with ANSWER (the executor logs to stdout too).
CHILD = """import dataclasses, json, os, pathlib, sys, threading, time, uuid
from concurrent.futures import ThreadPoolExecutor
from eventing.contract import Limits, Submission
from functions import runner, sandbox
from functions.languages import load_registry, served
from functions.settings import ExecutorSettings
LANGUAGES = served(load_registry(), None)
SETTINGS = ExecutorSettings(work_dir=pathlib.Path(os.environ["SENTINEL_WORK_DIR"]),
                            compile_cpu_ms=30000, compile_wall_ms=60000)
stop = threading.Event()
for _ in range(int(os.environ.get("EXTRA_THREADS", "0"))):
    threading.Thread(target=stop.wait, daemon=True).start()
def one(run):
    submission = Submission(id=uuid.uuid4().hex, code=run["code"], language=run["language"],
                            limits=Limits(**run.get("limits", {})))
    result = runner.execute(submission, LANGUAGES[run["language"]], SETTINGS)
    return result.model_dump(by_alias=True)
print("ANSWER", json.dumps({"mode": sandbox.limits_mode(), "uid": os.getuid(),
                  "threads": threading.active_count()}), flush=True)
def zombies():
    # One that is being reaped right now (a spare sandbox another thread closes) is not a leak:
    # what counts is a zombie still there a while later.
    deadline = time.monotonic() + 5
    while (found := zombies_now()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found
def zombies_now():
    found = 0
    for task in pathlib.Path("/proc/self/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue  # a thread that ended while we looked
        for pid in children:
            try:
                stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue  # reaped while we looked (a spare sandbox closed by another thread)
            found += stat[stat.rfind(")") + 2] == "Z"
    return found
for line in sys.stdin:
    runs = json.loads(line)["runs"]
    with ThreadPoolExecutor(len(runs)) as pool:
        results = list(pool.map(one, runs))
    print("ANSWER", json.dumps({"results": results, "zombies": zombies()}), flush=True)
"""
EXTRA_THREADS = 200
PROCESSES = 32
# Tasks a run has before its program forks: the sandbox's pid 1 and the program, plus the outer
# bwrap that a cgroup's pids.max counts (functions/rlimits.py nproc): the same in every mode.
TASKS_BEFORE_FORKS = 3
MEMORY_MB = 128
# What a run may hold beyond its limit before the watch kills it: one poll's allocation
# (functions/process_tree.py); measured up to 2 MB here, allowed 64 MB for a loaded machine.
OVERSHOOT_MB = 64
ROOMY = {"cpuTimeMs": 8000, "wallTimeMs": 20000, "memoryMb": MEMORY_MB}

FORK_COUNT = {
    "python": """import os, time
n = 0
while True:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    n += 1
print(n)""",
    "cpp": """#include <cstdio>
#include <unistd.h>
int main() {
    int n = 0;
    for (;;) {
        pid_t pid = fork();
        if (pid < 0) break;
        if (pid == 0) { sleep(30); _exit(0); }
        ++n;
    }
    std::printf("%d\\n", n);
}""",
}
FORK_BOMB = {
    "python": "import os\nwhile True:\n    os.fork()",
    "cpp": "#include <unistd.h>\nint main() { while (1) fork(); }",
}
MEMORY_BOMBS = {
    "cpp-malloc": (
        "cpp",
        "#include <cstdlib>\n#include <cstring>\nint main() { for (;;) {"
        " char *p = (char *)std::malloc(1 << 20); std::memset(p, 1, 1 << 20); } }",
    ),
    "cpp-new": (
        "cpp",
        "#include <vector>\nint main() { std::vector<std::vector<char>> v;"
        " for (;;) v.emplace_back(1 << 20, 1); }",
    ),
    "python": ("python", "a = []\nwhile True:\n    a.append(bytearray(1 << 20))"),
    "java-heap": (
        "java",
        "public class Main { public static void main(String[] a) {"
        " java.util.List<byte[]> l = new java.util.ArrayList<>();"
        " while (true) l.add(new byte[1 << 20]); } }",
    ),
    "java-unsafe": (
        "java",
        """import java.lang.reflect.Field;
public class Main { public static void main(String[] a) throws Exception {
  Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe"); f.setAccessible(true);
  sun.misc.Unsafe u = (sun.misc.Unsafe) f.get(null);
  while (true) { long p = u.allocateMemory(1 << 20); u.setMemory(p, 1 << 20, (byte) 1); }
}}""",
    ),
    "go": (
        "go",
        "package main\nfunc main() { var s [][]byte; for { b := make([]byte, 1<<20);"
        " for i := range b { b[i] = 1 }; s = append(s, b) } }",
    ),
    "node-heap": ("javascript", "const a = []; while (true) a.push(new Array(1e6).fill(1.5));"),
    "node-buffer": ("javascript", "const a = []; while (true) a.push(Buffer.alloc(1 << 20, 1));"),
    "csharp": (
        "csharp",
        "using System.Collections.Generic; class P { static void Main() {"
        " var l = new List<byte[]>(); while (true) { var b = new byte[1 << 20];"
        " for (int i = 0; i < b.Length; i += 4096) b[i] = 1; l.Add(b); } } }",
    ),
    # Each child under its own RLIMIT_AS: only the sum over the run's processes holds them.
    "cpp-forked-children": (
        "cpp",
        """#include <cstdlib>
#include <unistd.h>
#include <sys/wait.h>
int main() {
    for (int c = 0; c < 4; ++c)
        if (fork() == 0) {
            volatile char *p = (volatile char *)std::malloc(100 << 20);
            for (int i = 0; p && i < (100 << 20); i += 4096) p[i] = 1;
            sleep(10);
            _exit(0);
        }
    while (wait(nullptr) > 0) {}
}""",
    ),
}
# Four children spinning: RLIMIT_CPU is per process, the watch sums them.
CPU_FORKS = """import os
for _ in range(4):
    if os.fork() == 0:
        while True:
            pass
for _ in range(4):
    os.wait()"""


class Executor:
    """A child executor in rlimit mode; `run` sends submissions (run at once) and returns
    their results."""

    def __init__(self, process: subprocess.Popen[str], hello: dict[str, Any]) -> None:
        self.process = process
        self.hello = hello
        self.zombies = 0  # zombie children of the executor after the last request

    def run(self, *runs: dict[str, Any]) -> list[dict[str, Any]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"runs": list(runs)}) + "\n")
        self.process.stdin.flush()
        answer = _answer(self.process)
        self.zombies = int(answer["zombies"])
        return list(answer["results"])

    def one(self, language: str, code: str, **limits: int) -> dict[str, Any]:
        return self.run({"language": language, "code": code, "limits": limits or ROOMY})[0]


def _start(user: str | None) -> Iterator[Executor]:
    work = Path(tempfile.mkdtemp(prefix="sentinel-rlimit-"))
    os.chmod(work, 0o755)
    env = {
        "PATH": "/usr/bin:/bin",
        "SENTINEL_LIMITS": "rlimit",
        "SENTINEL_WORK_DIR": str(work / "work"),
        "EXTRA_THREADS": str(EXTRA_THREADS),
    }
    python = sys.executable
    switch: dict[str, Any] = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        shutil.chown(work, entry.pw_uid, entry.pw_gid)
        # Debian's interpreter with this environment's packages (as sentinel/executor_identity.py
        # does): the test's own may live where the user cannot read.
        python = "/usr/bin/python3"
        env["PYTHONPATH"] = os.pathsep.join([sysconfig.get_paths()["purelib"], str(REPO)])
        switch = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    process = subprocess.Popen(
        [python, "-c", CHILD],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        **switch,
    )
    try:
        assert process.stdout is not None
        yield Executor(process, _answer(process))
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


def _answer(process: subprocess.Popen[str]) -> Any:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("ANSWER "):
            return json.loads(line[len("ANSWER ") :])
    raise AssertionError("the child executor ended")


def _can_switch() -> bool:
    try:
        pwd.getpwnam("sentinel")
    except KeyError:
        return False
    return True


@pytest.fixture(scope="module", params=["root", "unprivileged"])
def executor(request: pytest.FixtureRequest) -> Iterator[Executor]:
    """The child executor as root (when the suite is root) and unprivileged: as the user
    `sentinel` when the suite is root, else as the suite's own user."""
    if request.param == "root":
        if os.geteuid() != 0:
            pytest.skip("the suite does not run as root")
        yield from _start(None)
    elif os.geteuid() != 0:
        yield from _start(None)
    elif _can_switch():
        yield from _start("sentinel")
    else:
        pytest.skip("no user sentinel to run an unprivileged executor as")


def test_the_child_executor_is_in_rlimit_mode(executor: Executor) -> None:
    assert executor.hello["mode"] == "rlimit", executor.hello
    assert executor.hello["threads"] > EXTRA_THREADS


@pytest.mark.parametrize("language", sorted(FORK_COUNT))
def test_a_run_starts_exactly_its_processes(executor: Executor, language: str) -> None:
    """However many threads the executor has (EXTRA_THREADS, of the same host uid when it is
    unprivileged): the count is the run's own."""
    limits = {**ROOMY, "processes": PROCESSES}
    result = executor.one(language, FORK_COUNT[language], **limits)
    assert result["verdict"] == "accepted", result
    assert result["limitExceeded"] is None, result
    assert int(result["output"]) == PROCESSES - TASKS_BEFORE_FORKS, result


def test_concurrent_runs_each_get_their_processes(executor: Executor) -> None:
    run = {
        "language": "python",
        "code": FORK_COUNT["python"],
        "limits": {**ROOMY, "processes": PROCESSES},
    }
    results = executor.run(run, run, run)
    assert [r["verdict"] for r in results] == ["accepted"] * 3, results
    assert [int(r["output"]) for r in results] == [PROCESSES - TASKS_BEFORE_FORKS] * 3


def test_a_run_that_fails_at_its_process_limit_says_so(executor: Executor) -> None:
    """Its children hold the limit a moment after the refused fork (a poll sees them), then it
    fails on the refusal."""
    code = """import os, time
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
except OSError:
    time.sleep(0.3)
    raise"""
    result = executor.one("python", code, **ROOMY, processes=PROCESSES)
    assert result["verdict"] == "runtime_error", result
    assert result["limitExceeded"] == "processes", result
    assert "BlockingIOError" in result["error"], result


@pytest.mark.parametrize("language", sorted(FORK_BOMB))
def test_a_fork_bomb_is_refused_its_forks(executor: Executor, language: str) -> None:
    result = executor.one(language, FORK_BOMB[language], **ROOMY, processes=PROCESSES)
    assert result["verdict"] in {"runtime_error", "time_limit_exceeded"}, result
    # the service is fine after it: a run's processes are still all its own
    after = executor.one("python", FORK_COUNT["python"], **ROOMY, processes=PROCESSES)
    assert int(after["output"]) == PROCESSES - TASKS_BEFORE_FORKS, after


@pytest.mark.parametrize("bomb", sorted(MEMORY_BOMBS))
def test_a_memory_bomb_is_memory_limit_exceeded_at_its_limit(executor: Executor, bomb: str) -> None:
    language, code = MEMORY_BOMBS[bomb]
    result = executor.one(language, code)
    assert result["verdict"] == "memory_limit_exceeded", result
    assert result["limitExceeded"] == "memory", result
    assert result["memoryKb"] <= (MEMORY_MB + OVERSHOOT_MB) * 1024, result


def test_memory_shared_with_forked_children_is_counted_once(executor: Executor) -> None:
    """60 MB, then 8 children that keep it (copy-on-write): their resident sets sum to nine
    times the limit's half, their proportional set sizes to once."""
    code = """import os, time
data = bytearray(60 << 20)
for i in range(0, len(data), 4096):
    data[i] = 1
children = []
for _ in range(8):
    pid = os.fork()
    if pid == 0:
        time.sleep(1)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
print("done")"""
    result = executor.one("python", code)
    assert result["verdict"] == "accepted", result
    assert result["output"] == "done\n"


def test_forked_cpu_burners_are_held_to_one_cpu_limit(executor: Executor) -> None:
    result = executor.one("python", CPU_FORKS, cpuTimeMs=1000, wallTimeMs=20000, memoryMb=128)
    assert result["verdict"] == "time_limit_exceeded", result
    assert result["limitExceeded"] == "cpu_time", result
    assert result["executionTime"] >= 1000, result  # the CPU of all five, not the parent's


def test_every_sandbox_pid_1_is_reaped(executor: Executor) -> None:
    """The executor is a child subreaper in rlimit mode (functions/subreaper.py): each run's pid
    1 comes back to it, and is waited for, also when the run is killed."""
    executor.run(
        {"language": "python", "code": "print(1)"},
        {"language": "python", "code": "while True: pass", "limits": {"cpuTimeMs": 500}},
        {"language": "python", "code": "import time; time.sleep(5)", "limits": {"wallTimeMs": 500}},
    )
    assert executor.zombies == 0


@pytest.mark.parametrize("language", sorted(HELLO))
def test_hello_is_accepted_in_every_language(executor: Executor, language: str) -> None:
    """The runtimes' RLIMIT_DATA allowance (functions/languages.toml data_overhead_mb) is
    enough to start at the default limits and at a small one."""
    for memory_mb in (256, 64):
        limits = {"cpuTimeMs": 8000, "wallTimeMs": 20000, "memoryMb": memory_mb}
        result = executor.one(language, HELLO[language], **limits)
        assert result["verdict"] == "accepted", (memory_mb, result)
        assert result["output"].strip() == "Hello, world!"
