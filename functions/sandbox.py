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

import atexit
import contextlib
import math
import os
import queue
import resource
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from functions import cgroups, seccomp

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
_POLL_S = 0.05  # how often a running sandbox's CPU time is checked (cgroup mode)
_SPARES_PER_COMMAND = 2


class SandboxUnavailable(RuntimeError):
    """The host cannot run the sandbox (bubblewrap missing or namespaces refused)."""


@dataclass(frozen=True)
class Limits:
    """What one run may consume. Output is counted per stream.

    `address_space` says whether RLIMIT_AS may carry the memory limit when no cgroup is
    delegated: false for runtimes that reserve far more address space than they use (JVM, Go,
    V8), which are then held by their own heap flags only.
    """

    cpu_ms: int
    wall_ms: int
    memory_kb: int
    output_bytes: int
    processes: int = 64
    open_files: int = 256
    file_size_bytes: int = 64 * 1024 * 1024
    tmp_bytes: int = 64 * 1024 * 1024
    address_space: bool = True
    stack_bytes: int | None = None  # None: the executor's own stack limit is inherited


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
    memory_exceeded: bool = False

    @property
    def signal_name(self) -> str | None:
        """SIGSEGV and the like, for a run ended by a signal."""
        if self.signal is None:
            return None
        try:
            return signal.Signals(self.signal).name
        except ValueError:
            return f"signal {self.signal}"


def limits_mode() -> str:
    """How memory and processes are limited here: "cgroup-v1", "cgroup-v2", or "rlimit" (the
    fallback); the executor's /health reports it."""
    where = delegation()
    return where.mode if where is not None else "rlimit"


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
    key = (tuple(argv), tuple(p for p in ro_paths if os.path.exists(p)))
    prepared = _SPARES.take(key) or _Prepared.spawn(key, delegation())
    _SPARES.refill(key)
    started = time.monotonic()
    try:
        prepared.release(limits, stdin, _run_args(limits, box, box_files, env or {}))
        stdout, stderr, timed_out, exceeded = _collect(prepared, limits, started)
        _, status, rusage = os.wait4(prepared.process.pid, 0)
        prepared.process.returncode = status  # the Popen is done; keep it from waiting again
        wall_ms = round((time.monotonic() - started) * 1000)
        cpu_ms = round((rusage.ru_utime + rusage.ru_stime) * 1000)
        memory_kb, oom = rusage.ru_maxrss, False
        if prepared.group is not None:
            prepared.group.kill()
            usage = prepared.group.usage()
            cpu_ms, oom = usage.cpu_ms, usage.oom_killed
            if usage.memory_peak_kb is not None:  # else the kernel keeps no peak: rusage's
                memory_kb = usage.memory_peak_kb
    finally:
        prepared.close()
    exit_code = os.waitstatus_to_exitcode(status)
    killed_by = -exit_code if exit_code < 0 else _inner_signal(exit_code)
    return Outcome(
        stdout=stdout,
        stderr=stderr,
        exit_code=None if killed_by else exit_code,
        signal=killed_by,
        cpu_ms=cpu_ms,
        wall_ms=wall_ms,
        memory_kb=memory_kb,
        wall_timed_out=timed_out,
        output_exceeded=exceeded,
        memory_exceeded=oom,
    )


_Key = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass
class _Prepared:
    """A bubblewrap started ahead of its run, blocked reading its last arguments (--args).

    Everything that makes the sandbox a sandbox (namespaces, the read-only toolchain, a clean
    environment, the seccomp filter) is on its command line already, so should the arguments
    never come (the executor died) it runs the command sandboxed, without a /box, where it finds
    nothing to run. Already moved into
    its cgroups: the RCU wait of that move is paid while it waits, and everything it forks is
    born inside. The run's own part (limits, /box, env, read-only root) comes with `release`.
    """

    process: subprocess.Popen[bytes]
    args_fd: int
    stdin_fd: int
    group: cgroups.Group | None
    closed: bool = field(default=False)

    @classmethod
    def spawn(cls, key: _Key, where: cgroups.Delegation | None) -> _Prepared:
        """Start one (no preexec_fn: CPython can then vfork, not copy the executor's pages)."""
        argv, ro_paths = key
        args_r, args_w = os.pipe()
        stdin_fd = os.memfd_create("stdin", 0)
        filter_fd = seccomp.memfd()
        group = cgroups.Group.create(where) if where is not None else None
        try:
            command = [
                *_sandbox_args(ro_paths, filter_fd),
                "--args",
                str(args_r),
                "--",
                *argv,
            ]
            process = subprocess.Popen(
                command,
                stdin=stdin_fd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(args_r, filter_fd),
                start_new_session=True,
            )
        except BaseException:
            os.close(args_w)
            os.close(stdin_fd)
            if group is not None:
                group.remove()
            raise
        finally:
            os.close(args_r)
            os.close(filter_fd)
        prepared = cls(process, args_w, stdin_fd, group)
        if group is not None:
            try:
                group.join(process.pid)
            except OSError:
                prepared.close()
                raise
        return prepared

    def release(self, limits: Limits, stdin: bytes, run_args: list[str]) -> None:
        """Give it its limits, its stdin and its last arguments: it starts the program."""
        pid = self.process.pid
        cpu_s = math.ceil(limits.cpu_ms / 1000) + 1
        resource.prlimit(pid, resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (limits.file_size_bytes,) * 2)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limits.open_files,) * 2)
        if limits.stack_bytes is not None:
            resource.prlimit(pid, resource.RLIMIT_STACK, (limits.stack_bytes,) * 2)
        memory = limits.memory_kb * 1024
        if self.group is not None:
            self.group.limit(memory, limits.processes)
        elif limits.address_space:
            resource.prlimit(pid, resource.RLIMIT_AS, (memory, memory))
        os.write(self.stdin_fd, stdin)
        os.lseek(self.stdin_fd, 0, os.SEEK_SET)
        os.close(self.stdin_fd)
        self.stdin_fd = -1
        payload = b"".join(arg.encode() + b"\0" for arg in run_args)
        with open(self.args_fd, "wb", closefd=True) as args:
            self.args_fd = -1
            args.write(payload)

    def close(self) -> None:
        """Kill it if still there, reap it, and remove its groups."""
        if self.closed:
            return
        self.closed = True
        for fd in (self.args_fd, self.stdin_fd):
            if fd >= 0:
                os.close(fd)
        if self.process.returncode is None:
            _kill(self.process)
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        if self.group is not None:
            self.group.kill()
            self.group.remove()


class _Spares:
    """Prepared sandboxes per command, refilled by one background thread after each take."""

    def __init__(self) -> None:
        self._ready: dict[_Key, list[_Prepared]] = {}
        self._lock = threading.Lock()
        self._wanted: queue.SimpleQueue[_Key] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def take(self, key: _Key) -> _Prepared | None:
        with self._lock:
            ready = self._ready.get(key)
            return ready.pop() if ready else None

    def refill(self, key: _Key) -> None:
        with self._lock:
            if self._thread is None:
                # Long-lived on purpose: a prepared bwrap gets SIGKILL when the thread that
                # started it ends (--die-with-parent follows the parent thread).
                self._thread = threading.Thread(target=self._loop, name="spares", daemon=True)
                self._thread.start()
        self._wanted.put(key)

    def close(self) -> None:
        with self._lock:
            spares = [p for ready in self._ready.values() for p in ready]
            self._ready.clear()
        for prepared in spares:
            with contextlib.suppress(OSError):
                prepared.close()

    def _loop(self) -> None:
        while True:
            key = self._wanted.get()
            with self._lock:
                if len(self._ready.get(key, ())) >= _SPARES_PER_COMMAND:
                    continue
            try:
                prepared = _Prepared.spawn(key, delegation())
            except OSError:
                continue  # the next run starts cold; it reports the fault if it persists
            with self._lock:
                self._ready.setdefault(key, []).append(prepared)


_SPARES = _Spares()
atexit.register(_SPARES.close)


_DELEGATION: list[cgroups.Delegation | None] = []
_DELEGATION_LOCK = threading.Lock()


def delegation() -> cgroups.Delegation | None:
    """Probed once per process: the cgroups we may use, or None. Under a lock: on v2 the probe
    moves this process into its leaf, and /health, the spares and the precompiled headers'
    build all ask at start (a second probe racing the first gave "rlimit" in the VM test)."""
    with _DELEGATION_LOCK:
        if not _DELEGATION:
            _DELEGATION.append(cgroups.delegation())
        return _DELEGATION[0]


def _sandbox_args(ro_paths: Sequence[str], filter_fd: int) -> list[str]:
    """What every run shares: namespaces, identity, the read-only toolchain, seccomp."""
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
        "--clearenv",
        "--seccomp",
        str(filter_fd),
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
        args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    return args


def _run_args(
    limits: Limits, box: Path | None, box_files: Path | None, env: Mapping[str, str]
) -> list[str]:
    """What one run has of its own: sized tmpfs, its /box, its environment; then / read-only."""
    args = [
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
    args += ["--remount-ro", "/", "--chdir", BOX]
    for name, value in {**BASE_ENV, **env}.items():
        args += ["--setenv", name, value]
    return args


def _collect(
    prepared: _Prepared, limits: Limits, started: float
) -> tuple[bytes, bytes, bool, bool]:
    """Read stdout and stderr up to the output cap until both close or the wall limit passes.

    With a cgroup, the run's CPU time (all its processes and threads) is checked as it goes, so
    a multi-threaded burner is stopped at the CPU limit rather than at the wall limit.
    """
    process = prepared.process
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
    timed_out = exceeded = over_cpu = False
    try:
        while selector.get_map() and not exceeded and not over_cpu:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            wait = min(remaining, _POLL_S) if prepared.group is not None else remaining
            for key, _ in selector.select(wait):
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
            if prepared.group is not None:
                over_cpu = prepared.group.cpu_ms() > limits.cpu_ms
        if timed_out or exceeded or over_cpu:
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
