"""The sandbox before and after it stopped running bwrap as host root, side by side in one run.

A: the sandbox as it was at BEFORE (functions/sandbox.py, cgroups.py and seccomp.py read from
git into a package of their own): bwrap started by root, /box files bound from the host.
B: today's sandbox in a root executor (bwrap switched to the user sentinel, rlimits through
prlimit(1), no vfork). C: today's sandbox in an executor that runs as the user sentinel, as
`./nox.sh -s serve` runs it (a child process of this one, asked for one run at a time). D: the
old sandbox's code in that same unprivileged process, so that C against D is the code's cost
and D against A what running bwrap unprivileged costs.

Each round runs one python hello and one C++ hello in each of A, B and C, in turn, with a pause
for the prepared sandboxes to be refilled; medians of the wall time of `run()`. Writes
docs/bench/sandbox_ab.json. Run as root (A and B need it; C needs the user sentinel).
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BEFORE = "d4e77ab"  # main before the sandbox stopped running as host root
OUT = REPO / "docs" / "bench" / "sandbox_ab.json"
ROUNDS = 30
PAUSE_S = 0.05
PROGRAMS = {
    "python": (["/usr/bin/python3", "main.py"], "main.py", 'print("hi")'),
    "cpp": (["/box/main"], "main.cpp", '#include <cstdio>\nint main() { std::puts("hi"); }'),
}
LIMITS = {"cpu_ms": 5000, "wall_ms": 10_000, "memory_kb": 256 * 1024, "output_bytes": 65536}


def old_sandbox() -> types.ModuleType:
    """functions/sandbox.py as it was at BEFORE, importable as `old_functions.sandbox` (also by
    the worker, which runs as another user: the directory is world-readable)."""
    top = Path(tempfile.mkdtemp(prefix="bench-old-"))
    top.chmod(0o755)
    package = top / "old_functions"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("sandbox", "cgroups", "seccomp"):
        text = subprocess.run(
            ["git", "show", f"{BEFORE}:functions/{name}.py"],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (package / f"{name}.py").write_text(text.replace("from functions import", "from . import"))
    for path in package.iterdir():
        path.chmod(0o644)
    sys.path.insert(0, str(package.parent))
    old = importlib.import_module("old_functions.sandbox")
    # Both name their groups sentinel-<pid>-<n>: the old one counts from elsewhere.
    importlib.import_module("old_functions.cgroups")._counter = itertools.count(10**6)
    return old


def boxes() -> dict[str, Path]:
    """One box per program (the C++ one compiled once, outside the timing)."""
    found = {}
    for name, (_, source, code) in PROGRAMS.items():
        box = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        (box / source).write_text(code)
        if name == "cpp":
            subprocess.run(["g++", "-O2", "-o", str(box / "main"), str(box / source)], check=True)
        box.chmod(0o755)
        found[name] = box
    return found


def _time(run: Any, *args: Any, **kwargs: Any) -> float:
    """Milliseconds of one `run(*args, **kwargs)`, checking it printed hi."""
    started = time.perf_counter()
    outcome = run(*args, **kwargs)
    elapsed = (time.perf_counter() - started) * 1000
    if outcome.stdout != b"hi\n":
        raise RuntimeError(f"unexpected output {outcome.stdout!r} {outcome.stderr!r}")
    return elapsed


def worker() -> None:
    """C and D: as the user sentinel, for each line read ("python" or "cpp"), one run of today's
    sandbox and one of the old sandbox's code in this same unprivileged process; both ms written
    back. D tells the code's cost apart from what being unprivileged costs."""
    from functions import sandbox

    sys.path.insert(0, sys.argv[3])
    old = importlib.import_module("old_functions.sandbox")
    importlib.import_module("old_functions.cgroups")._counter = itertools.count(10**6)
    limits, old_limits = sandbox.RunLimits(**LIMITS), old.Limits(**LIMITS)
    box = json.loads(sys.argv[2])
    for line in sys.stdin:
        name = line.strip()
        argv = PROGRAMS[name][0]
        new_ms = _time(sandbox.run, argv, limits=limits, box=Path(box[name]))
        time.sleep(PAUSE_S)
        old_ms = _time(old.run, argv, limits=old_limits, box_files=Path(box[name]))
        print(new_ms, old_ms, flush=True)


def main() -> None:
    from functions import identity, sandbox
    from sentinel import executor_identity

    if os.geteuid() != 0:
        raise SystemExit("run as root: the old sandbox and the switched one need it")
    old = old_sandbox()
    old_package = str(Path(old.__file__).parent.parent)
    found = boxes()
    executor = executor_identity.prepare(REPO, Path(tempfile.mkdtemp(prefix="bench-data-")))
    if executor.uid is None or not executor.groups:
        raise SystemExit(f"the executor cannot run as {identity.USER}: {executor.reason}")
    argv = [executor.python, "-m", "benchmarks.sandbox_ab", "--worker"]
    child = subprocess.Popen(
        [*argv, json.dumps({name: str(box) for name, box in found.items()}), old_package],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        user=executor.uid,
        group=executor.gid,
        extra_groups=[],
        preexec_fn=executor.join,  # in its own delegated groups, as under ./nox.sh -s serve
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **executor.env},
    )
    assert child.stdin is not None and child.stdout is not None
    times: dict[str, dict[str, list[float]]] = {
        name: {
            "before": [],
            "root_executor": [],
            "sentinel_executor": [],
            "before_code_as_sentinel": [],
        }
        for name in PROGRAMS
    }
    old_limits = old.Limits(**LIMITS)
    new_limits = sandbox.RunLimits(**LIMITS)
    for round_ in range(ROUNDS + 3):  # three rounds of warm-up: spares, caches
        for name, (argv, _, _) in PROGRAMS.items():
            box = found[name]
            a = _time(old.run, argv, limits=old_limits, box_files=box)
            time.sleep(PAUSE_S)
            b = _time(sandbox.run, argv, limits=new_limits, box=box)
            time.sleep(PAUSE_S)
            child.stdin.write(name + "\n")
            child.stdin.flush()
            c, d = (float(ms) for ms in child.stdout.readline().split())
            time.sleep(PAUSE_S)
            if round_ >= 3:
                times[name]["before"].append(a)
                times[name]["root_executor"].append(b)
                times[name]["sentinel_executor"].append(c)
                times[name]["before_code_as_sentinel"].append(d)
    child.stdin.close()
    child.wait()
    executor.release()
    summary: dict[str, Any] = {}
    for name, series in times.items():
        medians = {key: round(statistics.median(values), 2) for key, values in series.items()}
        summary[name] = {
            "median_ms": medians,
            "ratio_to_before": {
                key: round(value / medians["before"], 3) for key, value in medians.items()
            },
        }
    report = {
        "machine": platform.node(),
        "rounds": ROUNDS,
        "before": BEFORE,
        "limits_mode": sandbox.limits_mode(),
        "results": summary,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker()
    else:
        main()
