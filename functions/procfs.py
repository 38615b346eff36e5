"""What a sandbox has at /proc: a private procfs of its own pid namespace, or a static stand-in.

Why two: the kernel mounts a fresh procfs inside a user namespace only where the procfs already
mounted is fully visible. A container runtime's default /proc is not (it covers /proc/kcore,
/proc/keys, /proc/sys and others: Kubernetes' `procMount: Default`), so in a pod bwrap's
`--proc` fails with EPERM (seen under podman with runc's default masked /proc), and stock
Knative allows neither `procMount: Unmasked` nor `hostUsers: false`. Binding the container's own
/proc instead would show the sandbox every process of the pod under the same uid: the executor
and the other runs, with their memory, files and working directories. So where a fresh procfs is
refused, the sandbox gets no procfs at all: a read-only tmpfs holding only what programs
commonly look for,

- `/proc/self/exe`, a link to the program's own binary (the Java launcher finds libjli through
  it; rustc, Node and Go ask it for their own path);
- `/proc/self/fd/0`, the run's standard input (the file that is also its fd 0, bound read-only:
  `StdinFile`), so that `/dev/stdin` and `/dev/fd/0` (links into /proc/self/fd) read it, as
  `fs.readFileSync("/dev/stdin")` and shell scripts do.

What it costs: no /proc/<pid>, /proc/self/status, /proc/meminfo or /proc/cpuinfo inside;
`/dev/stdout` and `/dev/stderr` by path do not exist (a program writes to its descriptors 1 and
2, or gets ENOENT); a program that reads some of fd 0 and then opens /dev/stdin reads from the
start. What it does not cost: isolation. The pid namespace is still private, and with nothing
of procfs mounted there is less to see than with a private one (the hostile suite runs in both
modes: tests/test_hostile.py). /health reports the mode (`proc`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence

from functions import identity, subreaper
from functions.settings import ExecutorSettings

PRIVATE = "private"
STATIC = "static"
MODES = (PRIVATE, STATIC)
BWRAP = "/usr/bin/bwrap"
_SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin"

_MODE: list[str] = []
_LOCK = threading.Lock()


def mode() -> str:
    """The mode of this process: the setting `SENTINEL_SANDBOX_PROC` when it names one, else
    what the kernel allows here (probed once)."""
    with _LOCK:
        if not _MODE:
            wanted = ExecutorSettings.from_env().sandbox_proc
            _MODE.append(wanted if wanted in MODES else _probe())
        return _MODE[0]


def _probe() -> str:
    """Whether bwrap, run as the sandbox's host uid, may mount a fresh procfs here."""
    if not os.access(BWRAP, os.X_OK):
        return PRIVATE  # nothing runs anyway; the sandbox says why
    # bwrap does not wait for the sandbox's pid 1: where this process is a child subreaper
    # (rlimit mode, functions/subreaper.py) it comes back here, and is reaped, by the pid bwrap
    # reports on its status descriptor.
    status_r, status_w = os.pipe()
    command = [*identity.switch_command(), BWRAP, "--unshare-user", "--unshare-pid"]
    command += ["--ro-bind", "/", "/"]
    command += ["--proc", "/proc", "--json-status-fd", str(status_w), "--", "/bin/true"]
    try:
        done = subprocess.run(
            command,
            env={},
            capture_output=True,
            timeout=20,
            check=False,
            pass_fds=(status_w,),
        )
    except (OSError, subprocess.TimeoutExpired):
        return PRIVATE
    finally:
        os.close(status_w)
        with os.fdopen(status_r, "rb") as status:
            found = re.search(rb'"child-pid": *(\d+)', status.read())
        if found:
            subreaper.reap(int(found.group(1)))
    refused = b"Can't mount proc" in done.stderr
    return STATIC if done.returncode != 0 and refused else PRIVATE


def exe_of(argv: Sequence[str]) -> str:
    """Where /proc/self/exe points in the static mode: the program's binary, links resolved."""
    program = argv[0]
    found = program if os.path.isabs(program) else shutil.which(program, path=_SEARCH_PATH)
    if found and os.path.exists(found):
        return os.path.realpath(found)
    return found or program


def args(argv: Sequence[str], proc_mode: str, stdin_path: str | None) -> list[str]:
    """bwrap's arguments for /proc and /dev (after the toolchain's binds). The static /proc
    shows the run's standard input at /proc/self/fd/0 when `stdin_path` is given: the host file
    that is also the run's fd 0 (`StdinFile`), bound read-only (not for a pipe, whose data cannot
    be shown ahead: functions/interactive.py)."""
    if proc_mode == PRIVATE:
        return ["--proc", "/proc", "--dev", "/dev"]
    found = [
        "--dev",
        "/dev",
        "--tmpfs",
        "/proc",
        "--dir",
        "/proc/self/fd",
        "--symlink",
        exe_of(argv),
        "/proc/self/exe",
    ]
    if stdin_path is not None:
        found += ["--ro-bind", stdin_path, "/proc/self/fd/0"]
    return [*found, "--remount-ro", "/proc"]


class StdinFile:
    """A run's standard input as a file the executor writes and the sandbox reads: a memfd, or
    under the static /proc a host file, so that /proc/self/fd/0 can be bound to it while the
    sandbox is prepared, before the input is known (bwrap copies a `--file` at setup, which is
    too early). Its host path is not seen inside: the static /proc has no mountinfo.

    `write_fd` is the executor's, `read_fd` becomes the sandbox's fd 0: two open files, so the
    writes leave the sandbox's offset at the start."""

    def __init__(self, proc_mode: str) -> None:
        self.path: str | None = None
        if proc_mode == STATIC:
            self.path = os.path.join(_stdin_directory(), f"{os.getpid()}-{next(_COUNTER)}")
            self.write_fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            self.read_fd = os.open(self.path, os.O_RDONLY)
            ids = identity.sandbox_ids()
            if ids.switch:  # the program opens it by path as that user
                os.fchown(self.write_fd, ids.uid, ids.gid)
        else:
            self.write_fd = os.memfd_create("stdin", 0)
            self.read_fd = os.open(f"/proc/self/fd/{self.write_fd}", os.O_RDONLY)

    def close(self) -> None:
        """Close both ends and remove the host file (the sandbox keeps nothing of it)."""
        for fd in (self.write_fd, self.read_fd):
            if fd >= 0:
                os.close(fd)
        self.write_fd = self.read_fd = -1
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.path = None


_COUNTER = itertools.count()


@functools.cache
def _stdin_directory() -> str:
    """This process's directory of stdin files: private (0700), owned by the sandbox's host user
    so that bwrap, running as that user, can bind its files; removed at exit."""
    # The pid in the name: what a killed executor left is removed at the next start
    # (functions/leftovers.py).
    directory = tempfile.mkdtemp(prefix=f"sentinel-stdin-{os.getpid()}-")
    ids = identity.sandbox_ids()
    if ids.switch:
        os.chown(directory, ids.uid, ids.gid)
    atexit.register(shutil.rmtree, directory, True)
    return directory
