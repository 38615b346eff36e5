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

Every other program named by its absolute path (a compiled /box/main, java, node, ...) waits in a
shell instead: `/bin/sh -c WAITER sh <program> [args]` stops itself (SIGSTOP), and the release
is a SIGCONT, after which it execs the program. So what bwrap would do after its --block-fd
(load the seccomp filter, fork the sandbox's init, exec) is done before the run, and the run's
only step is that exec (a C++ hello's run: 3.7-4.1 ms against 4.4-4.7 cold here,
docs/benchmarks.md). A signal and not the byte: dash takes no fd above 9 in a redirection, and
the release pipe's number is whatever the executor had free, so the shell could neither read
nor close it (and the program must not inherit it). After the exec the process is the
program's alone: its argv, environment (in the shell's order, not bwrap's; one the shell would
alter is not waited in: `waits_in_shell`), fds, signal dispositions and rlimits are what bwrap's
exec gives it (tests/test_prestart.py compares them with a cold start).

Each interpreter or shell serves one run and is never reused (a spare is used once), so nothing
of one submission reaches another. Only a command that is exactly Debian's python3 with a script
gets the launcher.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

PYTHON = "/usr/bin/python3"
SHELL = "/bin/sh"
RELEASE = b"r"  # the byte the executor writes to start a script (functions/sandbox.py release)

# The program and its arguments follow.
WAITER = 'kill -STOP $$; exec "$@"'
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

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


def waits_in_shell(program: Sequence[str], env_names: Iterable[str]) -> bool:
    """Whether `program` can wait in the shell: named by an absolute path (the shell's exec
    then looks nothing up), with an environment the shell passes on unchanged (dash drops a
    name that is not a shell variable's; the PWD it sets is /box, as bwrap's --chdir does)."""
    return (
        bool(program)
        and program[0].startswith("/")
        and all(_NAME.fullmatch(name) for name in env_names)
    )


def launcher_command(command: Sequence[str], program_at: int, go_fd: int) -> list[str]:
    """`command` with its program (from `program_at` on) started ahead: python's launcher for a
    `prestartable` one, which waits on `go_fd` (the sandbox must inherit it), else the shell's
    waiter, which waits for SIGCONT (and must not be given `go_fd`)."""
    program = list(command[program_at:])
    if prestartable(program):
        return [*command[:program_at], PYTHON, "-c", LAUNCHER, str(go_fd), *program[1:]]
    return [*command[:program_at], SHELL, "-c", WAITER, "sh", *program]
