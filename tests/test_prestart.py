"""A Python script's interpreter starts ahead of its run (functions/prestart.py): the program
must see what `python3 <script>` shows it, and nothing of the launcher but what the module's
docstring names; an interpreter never released runs nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

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
    # /bin/sh exec'ing python3 is the same cold start, and not a command prestart takes.
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
    assert sandbox._prestart_at(("/usr/bin/python3", "main.py")) == 0
    behind_prlimit = ("/usr/bin/prlimit", "--nproc=4:4", "--", "/usr/bin/python3", "main.py")
    assert sandbox._prestart_at(behind_prlimit) == 3
    packed = (*sandbox.box_files.PACK, "/usr/bin/python3", "main.py")
    assert sandbox._prestart_at(packed) is None


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


def test_a_prestarted_interpreter_never_released_runs_nothing(tmp_path: Path) -> None:
    """It waits for the release under the sandbox before it reads any script: killed unreleased
    (the executor died), it printed nothing, and its box never held a file."""
    key = (
        (prestart.PYTHON, "main.py"),
        (),
        (LIMITS.tmp_bytes, 2 << 20, tuple(ENV.items())),
        None,
        procfs.mode(),
        True,
    )
    prepared = sandbox._Prepared.spawn(key, sandbox.delegation(), sandbox._group_limits(LIMITS))
    try:
        assert prepared.prestarted
        assert prepared.ready(), prepared.status
        time.sleep(0.5)  # the interpreter is up by now, waiting
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
