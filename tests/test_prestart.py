"""Programs start ahead of their run (functions/prestart.py): a Python script must see what
`python3 <script>` shows it, and nothing of the launcher but what the module's docstring names;
any other program, exec'd by the shell that waited for it, what bwrap's own exec shows it. A
launcher or shell never released runs nothing."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from functions import prestart, procfs, sandbox, settings

LIMITS = sandbox.RunLimits(cpu_ms=5000, wall_ms=10_000, memory_kb=256 << 10, output_bytes=1 << 20)
ENV = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"}

# What a program can see of how it was started; the stack depth aside (one frame deeper).
SEEN = r'''"""its doc"""
import json, os, pickle, sys, warnings
import __main__

class Kept:
    pass

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("default")
    warnings.warn("shown in __main__", DeprecationWarning)
print(json.dumps({
    "argv": sys.argv,
    "path0": sys.path[0],
    "file": __file__,
    "cached": __cached__,
    "spec": repr(__spec__),
    "loader": [type(__loader__).__name__, __loader__.name, __loader__.path],
    "doc": __doc__,
    "name": __name__,
    "names": list(vars(__main__))[:9],
    "main_is_this": sys.modules["__main__"] is __main__ and vars(__main__) is globals(),
    "pickled": type(pickle.loads(pickle.dumps(Kept()))).__name__,
    "modules": sorted(sys.modules),
    "flags": repr(sys.flags),
    "fds": sorted(os.listdir("/proc/self/fd")),
    "stdin": sys.stdin.read(),
    "stdin_buffer": type(sys.stdin.buffer).__name__,
    "warning": [str(w.message) for w in caught],
    "cwd": os.getcwd(),
    "environ": dict(os.environ),
}))
sys.stdout.flush()
raise LookupError("the uncaught one")
'''


def _run(program: str, tmp_path: Path, cold: bool, stdin: bytes = b"") -> sandbox.RunOutcome:
    box = tmp_path / ("cold" if cold else "warm")
    box.mkdir(exist_ok=True)
    (box / "main.py").write_text(program)
    # /bin/sh exec'ing python3 is the same cold start: not a command the launcher takes (a
    # shell waits for the release, and python3 starts after it).
    argv = [prestart.PYTHON, "main.py"]
    if cold:
        argv = ["/bin/sh", "-c", "exec /usr/bin/python3 main.py"]
    return sandbox.run(argv, limits=LIMITS, stdin=stdin, box=box, env=ENV)


def test_the_commands_it_starts_ahead_are_exactly_a_python3_script() -> None:
    assert prestart.prestartable(["/usr/bin/python3", "main.py"])
    assert prestart.prestartable(["/usr/bin/python3", "main.py", "--an-argument"])
    assert not prestart.prestartable(["/usr/bin/python3", "-I", "-S", "-c", "pass"])
    assert not prestart.prestartable(["/usr/bin/python3"])
    assert not prestart.prestartable(["/bin/sh", "main.py"])
    assert sandbox._prestart_at(("/usr/bin/python3", "main.py"), ENV) == 0
    behind_prlimit = ("/usr/bin/prlimit", "--nproc=4:4", "--", "/usr/bin/python3", "main.py")
    assert sandbox._prestart_at(behind_prlimit, ENV) == 3
    packed = (*sandbox.box_files.PACK, "/usr/bin/python3", "main.py")
    assert sandbox._prestart_at(packed, ENV) is None


def test_every_other_program_named_by_its_path_waits_in_the_shell() -> None:
    assert sandbox._prestart_at(("/box/main",), ENV) == 0
    assert sandbox._prestart_at(("/usr/bin/java", "-cp", "/box", "Main"), ENV) == 0
    assert sandbox._prestart_at(("main",), ENV) is None  # the shell's PATH lookup is not bwrap's
    # an environment the shell would not pass on as it is
    assert sandbox._prestart_at(("/box/main",), {"NOT-A-NAME": "1"}) is None
    command = prestart.launcher_command(("/usr/bin/prlimit", "--", "/box/main", "x"), 2, 7)
    waiter = ["/bin/sh", "-c", prestart.WAITER, "sh"]
    assert command == ["/usr/bin/prlimit", "--", *waiter, "/box/main", "x"]
    assert sandbox._exec_checked(("/usr/bin/prlimit", "--", "/box/main", "x"), 2) == "/box/main"
    assert sandbox._exec_checked(("/usr/bin/python3", "main.py"), 0) == ""


def test_a_prestarted_script_sees_what_a_cold_python3_shows_it(tmp_path: Path) -> None:
    warm = _run(SEEN, tmp_path, cold=False, stdin=b"the input\n")
    cold = _run(SEEN, tmp_path, cold=True, stdin=b"the input\n")
    assert cold.exit_code == warm.exit_code == 1, (cold, warm)
    assert json.loads(warm.stdout) == json.loads(cold.stdout)
    assert json.loads(warm.stdout)["stdin"] == "the input\n"
    assert warm.stderr == cold.stderr  # the traceback, without the launcher's frame
    assert b'File "/box/main.py", line ' in warm.stderr and b"<string>" not in warm.stderr


@pytest.mark.parametrize(
    "program, exit_code",
    [
        ("import sys; sys.exit(3)", 3),
        ("raise SystemExit('said')", 1),
        ("import os; os._exit(5)", 5),
        ("import atexit; atexit.register(print, 'at exit'); print('body')", 0),
        ("print(undefined_name)", 1),
        ("def f(): f()\nf()", 1),
        ("import sys; print(sys.stdin.buffer.read().hex(), end='')", 0),
    ],
)
def test_exits_output_and_errors_match_a_cold_start(
    tmp_path: Path, program: str, exit_code: int
) -> None:
    warm = _run(program, tmp_path, cold=False, stdin=b"\x00\xffbytes")
    cold = _run(program, tmp_path, cold=True, stdin=b"\x00\xffbytes")
    assert (warm.exit_code, warm.stdout) == (cold.exit_code, cold.stdout), (warm, cold)
    assert warm.exit_code == exit_code
    # the recursion's traceback differs only in how many frames it repeats (one fewer of ours)
    assert warm.stderr.splitlines()[-1:] == cold.stderr.splitlines()[-1:]


def _spare_of(command: tuple[str, ...]) -> sandbox._Prepared:
    key = (
        command,
        (),
        (LIMITS.tmp_bytes, 2 << 20, tuple(ENV.items())),
        None,
        procfs.mode(),
        True,
    )
    return sandbox._Prepared.spawn(key, sandbox.delegation(), sandbox._group_limits(LIMITS))


UNRELEASED = [(prestart.PYTHON, "main.py"), ("/usr/bin/echo", "ran")]


@pytest.mark.parametrize("command", UNRELEASED, ids=["python", "shell"])
def test_a_prestarted_program_never_released_runs_nothing(command: tuple[str, ...]) -> None:
    """It waits for the release under the sandbox before it reads any script or execs any
    program: killed unreleased (the executor died), it printed nothing, and its box never held
    a file."""
    prepared = _spare_of(command)
    try:
        assert prepared.prestarted
        assert prepared.ready(), prepared.status
        time.sleep(0.5)  # the interpreter or shell is up by now, waiting
        assert prepared.process.poll() is None
        assert sandbox.os.listdir(prepared.box_fd) == []
        sandbox._kill(prepared.process)
        assert prepared.process.stdout is not None and prepared.process.stderr is not None
        assert prepared.process.stdout.read() == b""
        assert prepared.process.stderr.read() == b""
        prepared.process.wait()
        assert not prepared.started_the_program()
    finally:
        prepared.close()


def test_a_release_pipe_closed_without_its_byte_starts_nothing() -> None:
    """The pipe closes without the byte when the executor ends mid-way: the launcher exits 70
    without running the script."""
    prepared = _spare_of(UNRELEASED[0])
    try:
        assert prepared.ready(), prepared.status
        prepared._close_fds(prepared.block_fd)
        assert prepared.process.stdout is not None and prepared.process.stderr is not None
        assert prepared.process.stdout.read() == b""
        assert prepared.process.wait(timeout=10) == 70
        assert prepared.process.stderr.read() == b""
    finally:
        prepared.close()


def test_a_spare_that_cannot_serve_its_run_is_replaced_by_one_started_under_the_runs_limit(
    tmp_path: Path,
) -> None:
    """A spare prepared with the last run's roomy limit, then a run whose limit is under what a
    waiting interpreter holds: that run gets what a cold start under its limit gets (here too
    little memory for python3 at all), never an internal error. Then the other way round."""
    box = tmp_path / "box"
    box.mkdir()
    (box / "main.py").write_text("print('fits')")
    roomy = sandbox.run([prestart.PYTHON, "main.py"], limits=LIMITS, box=box, env=ENV)
    assert roomy.stdout == b"fits\n"
    time.sleep(0.3)  # its replacement is prepared with the roomy limit, and started
    tiny = sandbox.RunLimits(cpu_ms=5000, wall_ms=10_000, memory_kb=3 << 10, output_bytes=4096)
    cramped = sandbox.run([prestart.PYTHON, "main.py"], limits=tiny, box=box, env=ENV)
    cold = sandbox.run(
        ["/bin/sh", "-c", "exec /usr/bin/python3 main.py"], limits=tiny, box=box, env=ENV
    )
    assert cramped.stdout == cold.stdout == b""
    assert cramped.memory_exceeded and cold.memory_exceeded, (cramped, cold)
    # The spare made after the cramped run started under its 3 MB and died waiting: the next
    # run, roomy again, must not be given it (it would report memory_exceeded, blaming the run).
    time.sleep(0.5)
    again = sandbox.run([prestart.PYTHON, "main.py"], limits=LIMITS, box=box, env=ENV)
    assert again.stdout == b"fits\n" and not again.memory_exceeded, again


def test_sentinel_prestart_off_starts_each_python_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SENTINEL_PRESTART=false the prepared sandbox blocks in bwrap as every other does:
    no launcher process waits in it, and the script runs as python3 <script> itself."""
    monkeypatch.setenv("SENTINEL_PRESTART", "false")
    settings.prestart_wanted.cache_clear()
    try:
        program = "import sys; print(sys.orig_argv)"
        outcome = _run(program, tmp_path, cold=False)
        assert outcome.stdout == b"['/usr/bin/python3', 'main.py']\n", outcome
    finally:
        monkeypatch.delenv("SENTINEL_PRESTART")
        settings.prestart_wanted.cache_clear()
    warm = _run(program, tmp_path, cold=False)
    assert warm.stdout.startswith(b"['/usr/bin/python3', '-c', "), warm


def _started_both_ways(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, stdin: bytes = b""
) -> tuple[sandbox.RunOutcome, sandbox.RunOutcome]:
    """`argv` run from a spare in which a shell waits for it, then as bwrap execs it after its
    --block-fd. A run started cold does not wait in a shell (that would only add its start), so
    the first run of each makes the spare that the next one takes."""
    released = _recording_releases(monkeypatch)
    outcomes = []
    for wanted in ("true", "false"):
        monkeypatch.setenv("SENTINEL_PRESTART", wanted)
        settings.prestart_wanted.cache_clear()
        try:
            sandbox.run(argv, limits=LIMITS, stdin=stdin, env=ENV)
            time.sleep(0.3)  # its spare is prepared
            outcomes.append(sandbox.run(argv, limits=LIMITS, stdin=stdin, env=ENV))
        finally:
            monkeypatch.delenv("SENTINEL_PRESTART")
            settings.prestart_wanted.cache_clear()
    assert released[1] and not released[3], released  # each started as it was meant to
    return outcomes[0], outcomes[1]


def _recording_releases(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The waiting shell's pid (0 for none) of each sandbox released from now on."""
    released: list[int] = []
    release = sandbox._Prepared.release

    def recording(prepared: sandbox._Prepared, *args: Any) -> None:
        released.append(prepared.waiter)
        release(prepared, *args)

    monkeypatch.setattr(sandbox._Prepared, "release", recording)
    return released


# What a process can read of how it was started (the lines of /proc/self/status that do not
# count memory, time or switches; SigQ counts the signals queued to every process of the uid).
_STARTED_AS = (
    b"Umask",
    b"State",
    b"Pid",
    b"PPid",
    b"NSpid",
    b"TracerPid",
    b"Uid",
    b"Gid",
    b"FDSize",
    b"Groups",
    b"SigPnd",
    b"SigBlk",
    b"SigIgn",
    b"SigCgt",
    b"ShdPnd",
    b"Cap",
    b"NoNewPrivs",
    b"Seccomp",
    b"Speculation",
)


@pytest.mark.parametrize(
    "argv",
    [
        ["/usr/bin/env"],
        ["/usr/bin/cat", "/proc/self/limits"],
        ["/usr/bin/cat", "/proc/self/cmdline"],
        ["/usr/bin/ls", "-a", "/proc/self/fd", "/box", "/tmp"],
        ["/usr/bin/stat", "-L", "-c", "%F %a", "/proc/self/fd/0", "/proc/self/fd/1", "."],
        ["/usr/bin/pwd", "-P"],
        ["/usr/bin/cat"],
        ["/usr/bin/false"],
        ["/bin/sh", "-c", "echo out; echo err >&2; kill -SEGV $$"],
    ],
)
def test_a_program_waiting_in_the_shell_sees_what_bwraps_own_exec_shows_it(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    waited, cold = _started_both_ways(argv, monkeypatch, stdin=b"the input\n")
    printed = [waited.stdout, cold.stdout]
    if argv == ["/usr/bin/env"]:  # the same variables, in the shell's order (functions/prestart.py)
        printed = [_sorted_lines(text) for text in printed]
    seen = (waited.exit_code, waited.signal, printed[0], waited.stderr)
    assert seen == (cold.exit_code, cold.signal, printed[1], cold.stderr), (waited, cold)
    assert waited.stdout or waited.exit_code, waited  # each shows something


def _sorted_lines(text: bytes) -> bytes:
    return b"".join(sorted(text.splitlines(keepends=True)))


def test_its_process_status_is_the_one_bwrap_gives_it(monkeypatch: pytest.MonkeyPatch) -> None:
    waited, cold = _started_both_ways(["/usr/bin/cat", "/proc/self/status"], monkeypatch)

    def started_as(outcome: sandbox.RunOutcome) -> list[bytes]:
        return [line for line in outcome.stdout.splitlines() if line.startswith(_STARTED_AS)]

    assert started_as(waited) == started_as(cold)
    assert any(line.startswith(b"Seccomp:\t2") for line in started_as(waited)), waited.stdout


def test_a_program_that_is_not_there_is_the_sandboxs_failure_either_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """bwrap's exec fails with no exit code; a shell's would exit 127 as a program does: the
    waiter's program is checked before the release so that both say the sandbox did not start
    (never a runtime error of the submission's)."""
    released = _recording_releases(monkeypatch)
    for wanted in ("true", "false"):
        monkeypatch.setenv("SENTINEL_PRESTART", wanted)
        settings.prestart_wanted.cache_clear()
        try:
            for _ in range(2):  # the first started cold, the second from its spare
                with pytest.raises(sandbox.SandboxUnavailable, match="did not start"):
                    sandbox.run(["/usr/bin/no-such-program"], limits=LIMITS, env=ENV)
                time.sleep(0.3)
        finally:
            monkeypatch.delenv("SENTINEL_PRESTART")
            settings.prestart_wanted.cache_clear()
    assert released[1] and not released[3], released


def test_no_other_sandbox_can_release_a_waiting_shell() -> None:
    """The release is a SIGCONT, and every sandbox's programs run as the same host user: only
    the pid namespace keeps one run from signalling another's waiting shell (kill -1 reaches
    every process the sender may signal and can see)."""
    prepared = _spare_of(("/usr/bin/echo", "ran"))
    try:
        assert prepared.ready(), prepared.status
        assert prepared.waiter and sandbox._stopped_child(prepared._pid1()) == prepared.waiter
        # -1, and the waiting shell's host pid (nothing, or another process, in the sender's)
        sending = f"kill -CONT -1; kill -CONT {prepared.waiter} 2>/dev/null; echo sent"
        other = sandbox.run(["/bin/sh", "-c", sending], limits=LIMITS, env=ENV)
        assert other.stdout == b"sent\n", other
        time.sleep(0.2)
        assert sandbox._stopped_child(prepared._pid1()) == prepared.waiter  # still waiting
        sandbox._kill(prepared.process)
        assert prepared.process.stdout is not None
        assert prepared.process.stdout.read() == b""
    finally:
        prepared.close()


def test_a_program_copied_into_the_box_is_never_busy_when_it_is_execd(tmp_path: Path) -> None:
    """Four at a time, back to back: each run copies its binary into the box while other threads
    start sandboxes (the spares' thread, cold spawns). A fork then would hold the file open for
    writing, and the shell, which execs right after the release, would fail with ETXTBSY
    (functions/forks.py). Runs did, before the copy and every fork were put under one lock."""
    binary = Path("/usr/bin/echo").read_bytes()

    def runs(box: Path) -> list[tuple[int | None, bytes, bytes]]:
        box.mkdir()
        (box / "main").write_bytes(binary)
        (box / "main").chmod(0o755)
        seen = []
        for _ in range(40):
            done = sandbox.run(["/box/main", "ran"], limits=LIMITS, box=box, env=ENV)
            seen.append((done.exit_code, done.stdout, done.stderr))
        return seen

    with ThreadPoolExecutor(4) as pool:
        outcomes = [
            o for each in pool.map(runs, [tmp_path / str(n) for n in range(4)]) for o in each
        ]
    failed = [outcome for outcome in outcomes if outcome != (0, b"ran\n", b"")]
    assert failed == [], failed[:3]
