"""Interpreters started ahead of their program: a prepared sandbox of a Python script runs
Python's own start (the interpreter, `site`, the standard streams: 13-18 ms of a hello's 20 here,
docs/benchmarks.md) while it waits for its run, and the run only hands it the script.

What waits in the sandbox is `python3 -c LAUNCHER <fd> <script> [args]`: our few lines, under
the sandbox's seccomp filter, cgroup and rlimits from its first instruction, with nothing of any
submission present yet (the script is written into /box after, functions/sandbox.py). It reads
one byte from `fd` (the executor's release), closes it, and makes the `-c` module into the one
`python3 <script>` would have run: `sys.argv`, `sys.path[0]`, `__file__`, `__cached__` and
`__loader__` as Python sets them for a script, its own names removed, the script compiled
under its absolute path (so tracebacks name it as Python does). One frame of ours stays under
the script's: the excepthook leaves it out of an uncaught exception's traceback, and the stack
is one frame deeper than Python's own (tests/test_prestart.py compares what a program can see
with a cold `python3 <script>`).

Each interpreter serves one run and is never reused (a spare is used once), so nothing of one
submission reaches another. Only a command that is exactly Debian's python3 with a script is
prestarted; any option in front of the script, and every other program, starts as before.
"""

from __future__ import annotations

from collections.abc import Sequence

PYTHON = "/usr/bin/python3"

# Runs as the -c module: it defines one name, and deletes it before the script runs.
LAUNCHER = """\
def _sentinel_launch(fd, args):
    import os, sys
    if os.read(fd, 1) != b"r":  # the executor ended before the run: no script ever came
        os._exit(70)
    os.close(fd)
    path = os.path.abspath(args[0])
    sys.argv[:] = args
    sys.path[0] = os.path.dirname(path)
    names = globals()
    del names["_sentinel_launch"]
    names["__loader__"] = sys.modules["_frozen_importlib_external"].SourceFileLoader(
        "__main__", path
    )
    names["__file__"] = path
    names["__cached__"] = None
    with open(path, "rb") as source:
        code = compile(source.read(), path, "exec", dont_inherit=True)

    def excepthook(kind, value, tb, shown=sys.excepthook):
        if tb is not None and tb.tb_frame.f_code is not code:
            tb = tb.tb_next  # this launcher's own frame: python3 <script> has none
            if isinstance(value, BaseException):  # the hook prints the exception's own
                value = value.with_traceback(tb)
        shown(kind, value, tb)

    sys.excepthook = excepthook
    return code


exec(_sentinel_launch(int(__import__("sys").argv[1]), __import__("sys").argv[2:]))
"""


def prestartable(program: Sequence[str]) -> bool:
    """Whether `program` (the command without its wrappers) is one this module starts ahead:
    python3 with a script first, whose name is not an option."""
    return len(program) >= 2 and program[0] == PYTHON and not program[1].startswith("-")


def launcher_command(command: Sequence[str], program_at: int, go_fd: int) -> list[str]:
    """`command` with its program (from `program_at` on, a `prestartable` one) started ahead:
    the launcher waits on `go_fd`, which the sandbox must inherit."""
    script_and_args = list(command[program_at + 1 :])
    return [*command[:program_at], PYTHON, "-c", LAUNCHER, str(go_fd), *script_and_args]
