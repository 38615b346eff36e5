"""One run of untrusted code in a fresh bubblewrap sandbox, with limits, measured.

Why bubblewrap: it builds the namespaces (user, pid, net, ipc, uts, mount, cgroup) without a
daemon or setuid helper, costs 3 to 5 ms a run here (../shared/FACTS.md), and when its outer
process is killed the sandbox's pid 1 dies (--die-with-parent) and the kernel kills every
process left in the pid namespace: nothing a run starts outlives it.

The view inside: the toolchain read-only (/usr and the few host paths a language names),
a private /proc and /dev, size-limited tmpfs /tmp and /dev/shm, and /box as the working
directory. /box is either a host directory bound writable (compile steps, so their artifacts
come back out) or a size-limited tmpfs with the compiled files bound read-only into it (runs,
so one test case cannot leave anything for the next). The environment is built from scratch.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import resource
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

BWRAP = "/usr/bin/bwrap"
SANDBOX_UID = 65534
BOX = "/box"
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TMPDIR": "/tmp",
}
_READ_CHUNK = 65536
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


class SandboxUnavailable(RuntimeError):
    """The host cannot run the sandbox (bubblewrap missing or namespaces refused)."""


@dataclass(frozen=True)
class Limits:
    """What one run may consume. Output is counted per stream."""

    cpu_ms: int
    wall_ms: int
    memory_kb: int
    output_bytes: int
    processes: int = 64
    open_files: int = 256
    file_size_bytes: int = 64 * 1024 * 1024
    tmp_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    """What a run did: its output, how it ended, and what it used."""

    stdout: bytes
    stderr: bytes
    exit_code: int | None
    signal: int | None
    cpu_ms: int
    wall_ms: int
    memory_kb: int
    wall_timed_out: bool
    output_exceeded: bool

    @property
    def signal_name(self) -> str | None:
        """SIGSEGV and the like, for a run ended by a signal."""
        if self.signal is None:
            return None
        try:
            return signal.Signals(self.signal).name
        except ValueError:
            return f"signal {self.signal}"


def run(
    argv: Sequence[str],
    *,
    limits: Limits,
    stdin: bytes = b"",
    box: Path | None = None,
    box_files: Path | None = None,
    env: Mapping[str, str] | None = None,
    ro_paths: Sequence[str] = (),
) -> Outcome:
    """Run `argv` in a new sandbox and wait for it (at most the wall limit).

    `box` binds a host directory writable at /box; otherwise /box is a fresh tmpfs into which the
    top-level entries of `box_files` (compiled artifacts) are bound read-only.
    """
    if not os.access(BWRAP, os.X_OK):
        raise SandboxUnavailable(f"{BWRAP} not found: install the Debian package bubblewrap")
    command = [*_bwrap_args(limits, box, box_files, env or {}, ro_paths), "--", *argv]
    stdin_fd = _memfd(stdin)
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            command,
            stdin=stdin_fd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=lambda: _prepare_child(limits),
        )
    finally:
        os.close(stdin_fd)
    stdout, stderr, timed_out, exceeded = _collect(process, limits, started)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = status  # the Popen is done; keep it from waiting again
    wall_ms = round((time.monotonic() - started) * 1000)
    cpu_ms = round((usage.ru_utime + usage.ru_stime) * 1000)
    exit_code = os.waitstatus_to_exitcode(status)
    killed_by = -exit_code if exit_code < 0 else _inner_signal(exit_code)
    return Outcome(
        stdout=stdout,
        stderr=stderr,
        exit_code=None if killed_by else exit_code,
        signal=killed_by,
        cpu_ms=cpu_ms,
        wall_ms=wall_ms,
        memory_kb=usage.ru_maxrss,
        wall_timed_out=timed_out,
        output_exceeded=exceeded,
    )


def _bwrap_args(
    limits: Limits,
    box: Path | None,
    box_files: Path | None,
    env: Mapping[str, str],
    ro_paths: Sequence[str],
) -> list[str]:
    args = [
        BWRAP,
        "--unshare-user",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--hostname",
        "sandbox",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for top in ("bin", "lib", "lib64", "sbin", "lib32", "libx32"):
        host = Path("/") / top
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{top}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{top}"]
    for path in ro_paths:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(limits.tmp_bytes),
        "--tmpfs",
        "/tmp",
        "--size",
        str(limits.tmp_bytes),
        "--tmpfs",
        "/dev/shm",
    ]
    if box is not None:
        args += ["--bind", str(box), BOX]
    else:
        args += ["--size", str(limits.tmp_bytes), "--tmpfs", BOX]
        if box_files is not None:
            for entry in sorted(box_files.iterdir()):
                args += ["--ro-bind", str(entry), f"{BOX}/{entry.name}"]
    # The root is bwrap's own tmpfs: read-only, or it is an unbounded place to write.
    args += ["--remount-ro", "/", "--chdir", BOX, "--clearenv"]
    for name, value in {**BASE_ENV, **env}.items():
        args += ["--setenv", name, value]
    return args


def _prepare_child(limits: Limits) -> None:
    """Runs in the child between fork and exec: limits inherited by everything in the sandbox,
    and SIGKILL should the executor thread that started it die (no orphaned sandboxes)."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    cpu_s = math.ceil(limits.cpu_ms / 1000) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_bytes, limits.file_size_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    memory = limits.memory_kb * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _memfd(data: bytes) -> int:
    """The run's stdin as an in-memory file: no pipe to deadlock on, nothing on disk."""
    fd = os.memfd_create("stdin", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _collect(
    process: subprocess.Popen[bytes], limits: Limits, started: float
) -> tuple[bytes, bytes, bool, bool]:
    """Read stdout and stderr up to the output cap until both close or the wall limit passes."""
    assert process.stdout is not None and process.stderr is not None
    out_fd, err_fd = process.stdout.fileno(), process.stderr.fileno()
    buffers = {out_fd: bytearray(), err_fd: bytearray()}
    # The pidfd turns readable when bwrap exits: a program that closes its output and then
    # sleeps is still held to the wall limit.
    pidfd = os.pidfd_open(process.pid)
    selector = selectors.DefaultSelector()
    for stream in (process.stdout, process.stderr):
        selector.register(stream, selectors.EVENT_READ)
    selector.register(pidfd, selectors.EVENT_READ)
    deadline = started + limits.wall_ms / 1000
    timed_out = exceeded = False
    try:
        while selector.get_map() and not exceeded:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(remaining):
                if key.fd == pidfd:
                    selector.unregister(pidfd)
                    continue
                chunk = os.read(key.fd, _READ_CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = buffers[key.fd]
                buffer += chunk
                if len(buffer) > limits.output_bytes:
                    del buffer[limits.output_bytes :]
                    exceeded = True
        if timed_out or exceeded:
            _kill(process)
    finally:
        selector.close()
        os.close(pidfd)
        process.stdout.close()
        process.stderr.close()
    return bytes(buffers[out_fd]), bytes(buffers[err_fd]), timed_out, exceeded


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the outer bwrap; its child (the sandbox's pid 1) follows, and with it everything."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _inner_signal(exit_code: int) -> int | None:
    """bwrap exits 128+N when the sandboxed program was killed by signal N."""
    if exit_code > 128 and exit_code - 128 in {s.value for s in signal.Signals}:
        return exit_code - 128
    return None
