"""One run of untrusted code in a fresh bubblewrap sandbox, with limits, measured.

Why bubblewrap: it builds the namespaces (user, pid, net, ipc, uts, mount, cgroup) without a
daemon or setuid helper, costs 3 to 5 ms a run here (measured: 3.4-3.9 ms for a native binary,
4.4-5.3 ms for python, 5.8 ms for node), and when its outer process is killed the sandbox's
pid 1 dies (--die-with-parent) and the kernel kills every process left in the pid namespace:
nothing a run starts outlives it.

Who it is: bwrap runs as an unprivileged host uid (functions/identity.py), so the sandbox's user
is never host root; it starts with an empty environment, so its own pid 1 (/proc/1/environ
inside) shows nothing of the executor's.

The view inside: the toolchain read-only (/usr and the few host paths a language names),
a private /proc and /dev, size-limited tmpfs /tmp and /dev/shm, and /box as the working
directory: a size-limited tmpfs into which the run's files are copied from file descriptors
(functions/box_files.py), so no host path of the work directory is bound, shown in mountinfo or
writable. A compile step's /box comes back out as a bounded tar stream (`keep_box`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import queue
import re
import resource
import selectors
import signal
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from functions import (
    box_files,
    cgroups,
    forks,
    identity,
    prestart,
    process_tree,
    procfs,
    rlimits,
    seccomp,
    settings,
    subreaper,
)

BWRAP = "/usr/bin/bwrap"
SANDBOX_UID = 65534  # the uid inside; outside it is functions/identity.py's
BOX = "/box"
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TMPDIR": "/tmp",
}
_READ_CHUNK = 65536
# How often a running sandbox's CPU time is checked (a cgroup's counter), and in rlimit mode
# its process tree's sums (functions/process_tree.py): more often, as the poll is then what
# holds memory, but spaced to ten times its own cost (twice near the memory limit): a poll of a
# JVM or of 30 processes takes 1 to 4 ms here.
_POLL_S = 0.05
_RLIMIT_POLL_S = 0.01
# Spares kept per command: two, so that the next run finds one ready while the one its
# predecessor took is replaced (with one, back-to-back runs waited for it: a python hello's
# request waited 15 ms on average for its spare here, docs/benchmarks.md). The second is made
# only while it evicts no other command's spare (_Spares._loop).
_SPARES_PER_COMMAND = 2
# Prepared sandboxes kept at most, over all commands: second spares go first, then the least
# recently used commands' (_Spares._over_bound).
MAX_SPARES = 8


class SandboxUnavailable(RuntimeError):
    """The host cannot run the sandbox (bubblewrap missing or namespaces refused)."""


@dataclass(frozen=True)
class RunLimits:
    """What one run may consume. Output is counted per stream.

    `address_space` says whether RLIMIT_AS may carry the memory limit when no cgroup is
    delegated: false for runtimes that reserve far more address space than they use (JVM, Go,
    V8, Mono), which then get RLIMIT_DATA at the limit plus `data_overhead_kb`, what the runtime
    needs beyond it to start (functions/rlimits.py).
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
    data_overhead_kb: int = 0
    data_thread_stacks: int = 0  # thread stacks of RLIMIT_STACK's size the runtime starts


@dataclass(frozen=True)
class RunOutcome:
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
    # The group refused memory at least once, or (rlimit mode) the run came near its limit.
    memory_hit_limit: bool = False
    box_refused: str = ""  # why a kept /box could not be taken back ("" when it was)
    # Which limit ended the run: "wall", "cpu", "memory", "output", "processes", or "" (none
    # that the sandbox saw; a runtime's own out-of-memory message is functions/grading.py's).
    ended_by: str = ""

    @property
    def signal_name(self) -> str | None:
        """SIGSEGV and the like, for a run ended by a signal."""
        if self.signal is None:
            return None
        try:
            return signal.Signals(self.signal).name
        except ValueError:
            return f"signal {self.signal}"


def sweep_stale() -> int:
    """At the executor's start: remove the run groups a killed executor left (see
    functions/cgroups.py sweep_stale); how many."""
    where = delegation()
    return len(cgroups.sweep_stale(where)) if where is not None else 0


def limits_mode() -> str:
    """How memory and processes are limited here: "cgroup-v1", "cgroup-v2", or "rlimit" (the
    fallback); the executor's /health reports it."""
    where = delegation()
    return where.mode if where is not None else "rlimit"


def run(
    argv: Sequence[str],
    *,
    limits: RunLimits,
    stdin: bytes = b"",
    box: Path | None = None,
    keep_box: Path | None = None,
    env: Mapping[str, str] | None = None,
    ro_paths: Sequence[str] = (),
    ro_binds: Sequence[tuple[str, str]] = (),
    stdin_fd: int | None = None,
    stdout_fd: int | None = None,
) -> RunOutcome:
    """Run `argv` in a new sandbox and wait for it (at most the wall limit).

    With `stdin_fd` and `stdout_fd` (pipes: an interactive exchange, functions/interactive.py)
    the program reads and writes those instead of `stdin` and a collected stdout (the outcome's
    stdout is then empty); run owns them and closes them once the sandbox holds its copies.

    /box is a fresh tmpfs holding a copy of every file under `box`. With `keep_box`, the
    box as the program left it is written there afterwards (regular files and directories,
    bounded by `limits.tmp_bytes`); `RunOutcome.box_refused` says why when it could not be.
    `ro_paths` are host paths shown read-only at the same place, `ro_binds` (host, inside) pairs.
    """
    streams = (stdin_fd, stdout_fd) if stdin_fd is not None and stdout_fd is not None else None
    try:
        if not os.access(BWRAP, os.X_OK):
            raise SandboxUnavailable(f"{BWRAP} not found: install the Debian package bubblewrap")
        directories, files = box_files_of(box)
    except BaseException:
        for fd in streams or ():
            os.close(fd)
        raise
    command = (*box_files.PACK, *argv) if keep_box is not None else tuple(argv)
    binds = tuple((p, p) for p in ro_paths if os.path.exists(p)) + tuple(
        (host, inside) for host, inside in ro_binds if os.path.exists(host)
    )
    where = delegation()
    if where is None:
        command = rlimits.inner_command(limits.processes, command)
    wanted = _wanted(limits)
    full_env = {**BASE_ENV, **(env or {})}
    at = _prestart_at(command, full_env) if settings.prestart_wanted() else None
    shape = (
        limits.tmp_bytes,
        _box_bytes(limits, files),
        tuple(full_env.items()),
    )

    def key_for(ahead: bool) -> _Key:
        # rlimits are set at spawn when bwrap switches ids (a root executor may not prlimit
        # another uid) or its program starts ahead (release's prlimit would reach pid 1 only)
        switch = identity.sandbox_ids().switch
        fixed = rlimits.outer(wanted, grouped=where is not None) if switch or ahead else None
        return (command, binds, shape, fixed, procfs.mode(), ahead)

    key = key_for(at is not None)
    # Started on the request path, a waiting shell would only add its own start to the run's
    # (a python launcher does not: the interpreter starts either way).
    cold_key = key_for(at is not None and prestart.prestartable(command[at:]))
    group_limits = _group_limits(limits)
    if streams is not None:  # its own streams: no prepared sandbox has them
        prepared = _Prepared.spawn(cold_key, where, group_limits, streams)
    else:
        prepared = _fitting(_SPARES.take(key), group_limits) or _Prepared.spawn(
            cold_key, where, group_limits
        )
    started = time.monotonic()
    try:
        prepared.release(limits, stdin, directories, files)
        archive_cap = limits.tmp_bytes if keep_box is not None else limits.output_bytes
        seen = _collect(prepared, limits, started, archive_cap)
        _, status, rusage = os.wait4(prepared.process.pid, 0)
        prepared.process.returncode = status  # the Popen is done; keep it from waiting again
        inner = prepared.reap_init()  # rlimit mode: the program's own figures
        if not seen.killed and not prepared.started_the_program():
            _raise_unavailable(seen.stderr, status)
        wall_ms = round((time.monotonic() - started) * 1000)
        cpu_ms = max(round((rusage.ru_utime + rusage.ru_stime) * 1000), seen.cpu_ms)
        memory_kb, oom, hit_limit = max(rusage.ru_maxrss, seen.memory_kb), False, False
        if inner is not None:  # bwrap's ru_maxrss is its own (functions/subreaper.py)
            cpu_ms = max(cpu_ms, round((inner.ru_utime + inner.ru_stime) * 1000))
            memory_kb = max(inner.ru_maxrss, seen.memory_kb)
        if prepared.group is not None:
            if seen.killed:  # else its pid namespace ended with its pid 1, which bwrap waited for
                prepared.group.kill()
            usage = prepared.group.usage()
            cpu_ms, oom = usage.cpu_ms, usage.oom_killed
            if usage.memory_peak_kb is not None:  # else the kernel keeps no peak: rusage's
                memory_kb = usage.memory_peak_kb
            hit_limit = usage.memory_hit_limit
    finally:
        prepared.close()
        if streams is None:  # after the run: its replacement's setup does not compete with it
            _SPARES.refill(key, group_limits)
    stdout, stderr, exceeded = seen.stdout, seen.stderr, seen.output_exceeded
    refused = ""
    if keep_box is not None:
        stdout, refused = b"", _unpacked(stdout, keep_box, limits, exceeded)
        exceeded = exceeded and not refused and len(stderr) >= limits.output_bytes
    exit_code = os.waitstatus_to_exitcode(status)
    killed_by = -exit_code if exit_code < 0 else _inner_signal(exit_code)
    failed = killed_by is not None or exit_code != 0
    if prepared.group is None:  # rlimit mode: the watch's sums say it (functions/rlimits.py)
        near = memory_kb >= _near_limit_kb(limits.memory_kb)
        oom = seen.over_memory or (failed and near)
        hit_limit = oom or near
    return RunOutcome(
        stdout=stdout,
        stderr=stderr,
        exit_code=None if killed_by else exit_code,
        signal=killed_by,
        cpu_ms=cpu_ms,
        wall_ms=wall_ms,
        memory_kb=memory_kb,
        wall_timed_out=seen.timed_out,
        output_exceeded=exceeded,
        memory_exceeded=oom,
        memory_hit_limit=hit_limit,
        box_refused=refused,
        ended_by=_ended_by(seen, limits, oom, failed, killed_by),
    )


def _group_limits(limits: RunLimits) -> GroupLimits:
    return (limits.memory_kb * 1024, limits.processes)


def _wanted(limits: RunLimits) -> rlimits.Wanted:
    return rlimits.Wanted(
        cpu_ms=limits.cpu_ms,
        memory_kb=limits.memory_kb,
        processes=limits.processes,
        open_files=limits.open_files,
        file_size_bytes=limits.file_size_bytes,
        address_space=limits.address_space,
        data_overhead_kb=limits.data_overhead_kb,
        stack_bytes=limits.stack_bytes,
        thread_stacks=limits.data_thread_stacks,
    )


def _box_bytes(limits: RunLimits, files: Sequence[box_files.BoxFile]) -> int:
    """The size of a run's /box tmpfs: room to write `tmp_bytes`, plus its files rounded up to a
    power of two (at least 1 MB). Rounded because the size is fixed when a sandbox is prepared,
    before its files are known, and is part of what a prepared sandbox is: one prepared box then
    serves every submission of similar size."""
    total = sum(f.size for f in files)
    room = 1 << 20
    while room < total:
        room <<= 1
    return limits.tmp_bytes + room


def _near_limit_kb(memory_kb: int) -> int:
    """A peak from which a failed run is taken to have died of its memory limit in rlimit mode:
    within 32 MB of it, or within a quarter for small limits. Why that much: a program's libraries
    and reservations take address space that is never resident (a C++ malloc bomb under RLIMIT_AS
    ends 2 MB short of a 128 MB limit, Mono's 28 MB short under RLIMIT_DATA), and where the pid 1's
    rusage is not to be had (functions/subreaper.py) the peak is what the watch last saw."""
    return max(memory_kb * 3 // 4, memory_kb - 32 * 1024)


def _ended_by(
    seen: _Seen, limits: RunLimits, oom: bool, failed: bool, signal_number: int | None
) -> str:
    """Which limit ended the run, as far as the sandbox saw (the order of functions/grading.py)."""
    if seen.output_exceeded:
        return "output"
    if seen.timed_out:
        return "wall"
    if seen.over_cpu or signal_number == signal.SIGXCPU:
        return "cpu"
    if oom:
        return "memory"
    if failed and seen.tasks >= limits.processes - 1:
        return "processes"
    return ""


def box_files_of(box: Path | None) -> tuple[list[str], list[box_files.BoxFile]]:
    """The directories and files to copy into a run's /box (none without a box)."""
    if box is None:
        return [], []
    try:
        return box_files.listing(box)
    except box_files.Refused as exc:
        raise SandboxUnavailable(str(exc)) from exc


def _raise_unavailable(stderr: bytes, status: int) -> None:
    """The sandbox itself failed (bwrap's setup, or the toolchain's exec): the service's fault,
    never the submission's (docs/security.md)."""
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    said = next((line for line in reversed(lines) if line.startswith("bwrap:")), "")
    if not said and os.WIFSIGNALED(status):
        return  # bwrap itself killed (the OOM killer chose it): the run's verdict says so
    raise SandboxUnavailable(f"the sandbox did not start: {said or 'bwrap exited early'}")


def _unpacked(archive: bytes, keep_box: Path, limits: RunLimits, exceeded: bool) -> str:
    """Write a compile's /box out of its tar stream; why it was refused ("" when it was not)."""
    if exceeded and len(archive) >= limits.tmp_bytes:
        return f"the box holds more than {limits.tmp_bytes // (1024 * 1024)} MB"
    try:
        box_files.unpack(archive, keep_box, limits.tmp_bytes)
    except box_files.Refused as exc:
        return str(exc)
    return ""


# (tmp bytes, box bytes, environment): the mounts and variables fixed when one is prepared.
_Shape = tuple[int, int, tuple[tuple[str, str], ...]]
# (command, binds, shape, rlimits fixed at spawn, /proc mode, its program started ahead): what
# a prepared sandbox is.
_Key = tuple[
    tuple[str, ...], tuple[tuple[str, str], ...], _Shape, rlimits.Rlimits | None, str, bool
]
# A run's cgroup limits: memory in bytes, and tasks.
GroupLimits = tuple[int, int]
# How long a sandbox may take to set itself up (its mounts and namespaces) before the executor
# gives up on it: far beyond the 3-6 ms it takes, for a machine under load.
_READY_S = 20.0
_READY_POLL_S = 0.0005


@dataclass
class _Prepared:
    """A bubblewrap started ahead of its run, set up and blocked just before its program
    (--block-fd).

    Everything that makes the sandbox a sandbox is done before the run comes: the namespaces,
    the unprivileged host uid, an empty environment, the read-only toolchain, the sized tmpfs
    /box, /tmp and /dev/shm, the read-only root, the cgroup membership (joined before bwrap
    forks: it waits on its --args until then, so everything it forks is born inside). Left for
    the run: its limits, its stdin, its files (written into the /box of the blocked sandbox
    through /proc/<its pid 1>/root, where nothing untrusted has run yet), then one byte on the
    block fd, after which bwrap only loads the seccomp filter, forks its init and execs. Should
    the byte never come (the executor died) the sandbox dies with its parent (--die-with-parent).

    Most go one step further (`prestarted`): bwrap does not block, and what it execs starts
    under the seccomp filter, its group's limits and its rlimits, then waits itself: a Python
    script's interpreter for that byte before it reads the script, or a shell, stopped until a
    SIGCONT, that then execs the program (functions/prestart.py).
    """

    process: subprocess.Popen[bytes]
    block_fd: int
    stdin: procfs.StdinFile | None  # None: an exchange's pipe (functions/interactive.py)
    status_fd: int  # bwrap's --json-status-fd: its pid 1, then "exit-code" only if the program ran
    group: cgroups.Group | None
    rlimits_fixed: bool = False  # set at spawn (a root executor may not prlimit another uid)
    closed: bool = field(default=False)
    status: bytes = b""  # what bwrap wrote to its --json-status-fd so far
    reaped: bool = False  # its pid 1 (rlimit mode, functions/subreaper.py)
    box_fd: int = -1  # the blocked sandbox's /box, open once it is set up
    group_limits: GroupLimits | None = None  # what its group's limits are set to, once set
    prestarted: bool = False  # its program runs already, waiting for the block fd's byte
    # A shell waits for the byte in its place (functions/prestart.py): the program it will exec,
    # checked before the byte as bwrap's own exec would fail on it
    exec_checked: str = ""
    waiter: int = 0  # that shell's host pid, once it has stopped itself to wait

    @classmethod
    def spawn(
        cls,
        key: _Key,
        where: cgroups.Delegation | None,
        limits: GroupLimits,
        streams: tuple[int, int] | None = None,
    ) -> _Prepared:
        """Start one, its group limited to `limits` before anything is born in it. bwrap gets an
        empty environment and, when this process is root, the unprivileged identity (through
        setpriv: functions/identity.py, switch_command). With `streams` (stdin, stdout), the
        program gets those; they are closed here once bwrap holds them."""
        argv, binds, shape, fixed, proc_mode, ahead = key
        try:
            args_r, args_w = os.pipe()
        except BaseException:
            for fd in streams or ():
                os.close(fd)
            raise
        block_r, block_w = os.pipe()
        status_r, status_w = os.pipe()
        stdin = procfs.StdinFile(proc_mode) if streams is None else None
        filter_fd = seccomp.memfd()
        group = cgroups.Group.create(where) if where is not None else None
        at = _prestart_at(argv, dict(shape[2])) if ahead else None
        program = argv if at is None else prestart.launcher_command(argv, at, block_r)
        exec_checked = _exec_checked(argv, at)
        # A shell waits for a signal instead, and must not hand the pipe to its program.
        passed = (args_r, filter_fd, status_w) + (() if exec_checked else (block_r,))
        try:
            command = [*_sandbox_args(binds, filter_fd), "--args", str(args_r), "--", *program]
            if fixed is not None:
                command = [*rlimits.prlimit_command(fixed), *command]
            process = forks.popen(
                [*identity.switch_command(), *command],
                stdin=streams[0] if streams is not None else stdin.read_fd if stdin else -1,
                stdout=subprocess.PIPE if streams is None else streams[1],
                stderr=subprocess.PIPE,
                pass_fds=passed,
                start_new_session=True,
                env={},
            )
        except BaseException:
            for fd in (args_w, block_w, status_r):
                os.close(fd)
            if stdin is not None:
                stdin.close()
            if group is not None:
                group.remove()
            raise
        finally:
            for fd in (args_r, filter_fd, status_w, block_r, *(streams or ())):
                os.close(fd)
        os.set_blocking(status_r, False)
        prepared = cls(
            process,
            block_w,
            stdin,
            status_r,
            group,
            rlimits_fixed=fixed is not None,
            prestarted=at is not None,
            exec_checked=exec_checked,
        )
        try:
            if group is not None:
                group.join(process.pid)
                prepared.limit_group(limits)
            tmp_bytes, box_bytes, env = shape
            setup = [
                *procfs.args(_program_of(argv), proc_mode, stdin.path if stdin else None),
                *_run_args(tmp_bytes, box_bytes, env),
                "--json-status-fd",
                str(status_w),
            ]
            if at is None:  # a prestarted program waits on it itself
                setup += ["--block-fd", str(block_r)]
            with open(args_w, "wb", closefd=True) as args:
                args_w = -1
                args.write(b"".join(arg.encode() + b"\0" for arg in setup))
        except BaseException:
            if args_w >= 0:
                os.close(args_w)
            prepared.close()
            raise
        return prepared

    def ready(self, timeout: float = _READY_S) -> bool:
        """Wait until bwrap has set the sandbox up (its pid 1's root is the new root, with the
        /box tmpfs mounted in it) and open that /box, and where a shell waits in it, until that
        shell has stopped itself (a SIGCONT before would be lost); false if bwrap ended first or
        took longer than `timeout` (it is then killed). Called by the spares' thread, so a taken
        spare is ready already. Nothing tells when bwrap is done, so this looks every 0.5 ms (a
        run may be waiting for this one: _Spares.take)."""
        if self.box_fd >= 0 and (self.waiter or not self.exec_checked):
            return True
        deadline = time.monotonic() + timeout
        own_root = os.stat("/")
        while time.monotonic() < deadline and self.process.poll() is None:
            self._read_status()
            found = re.search(rb'"child-pid": *(\d+)', self.status)
            if self.box_fd < 0 and found is not None:
                self.box_fd = _set_up_box(int(found.group(1)), own_root)
            if self.box_fd >= 0 and found is not None:
                if not self.exec_checked:
                    return True
                self.waiter = _stopped_child(int(found.group(1)))
                if self.waiter:
                    return True
            time.sleep(_READY_POLL_S)
        if self.process.poll() is None:
            _kill(self.process)
        return False

    def release(
        self,
        limits: RunLimits,
        stdin: bytes,
        directories: list[str],
        files: list[box_files.BoxFile],
    ) -> None:
        """Give it its limits, its stdin and its files, and unblock it: its program starts.
        SandboxUnavailable when bwrap could not set it up (the service's fault, never the
        submission's)."""
        if not self.ready():
            raise SandboxUnavailable(f"the sandbox did not start: {self._why_not_ready()}")
        pid1 = self._pid1()
        if not self.rlimits_fixed:
            for which, soft, hard in rlimits.outer(_wanted(limits), grouped=self.group is not None):
                resource.prlimit(pid1, which, (soft, hard))
        self.limit_group(_group_limits(limits))
        if self.stdin is not None:
            with open(self.stdin.write_fd, "wb", closefd=False) as written:
                written.write(stdin)
        box_files.write_into(self.box_fd, directories, files, identity.creating_as_sandbox)
        self._close_fds(self.box_fd)
        if self.exec_checked and not os.access(f"/proc/{pid1}/root{self.exec_checked}", os.X_OK):
            # bwrap would fail its exec and write no exit code; the shell would exit 127
            # like a program that ran
            raise SandboxUnavailable(f"the sandbox did not start: no {self.exec_checked} to run")
        if self.waiter:
            os.kill(self.waiter, signal.SIGCONT)
        else:
            with contextlib.suppress(BrokenPipeError):
                os.write(self.block_fd, prestart.RELEASE)
        self._close_fds(self.block_fd)

    def fits(self, limits: GroupLimits) -> bool:
        """Whether it can serve a run with `limits`. Only a prestarted one can be refused:
        - its group does not take them: a memory limit under what its interpreter holds
          already (v1 answers EBUSY; v2 kills it, which the next check sees);
        - its interpreter felt a limit while it waited (it started under the last run's, which
          may have been too small for it): OOM-killed, or at the limit once, which the run's
          own figures would then report as the run's;
        - it is gone for any other reason.
        Any of these would blame the run for what happened before it came."""
        try:
            self.limit_group(limits)
        except OSError:
            if not self.prestarted:
                raise
            return False
        if not self.prestarted:
            return True
        if self.group is not None and self.group.felt_limit():
            return False
        self._read_status()
        return self.process.poll() is None and b'"exit-code"' not in self.status

    def limit_group(self, limits: GroupLimits) -> None:
        """Its cgroup's memory and task limits, written only when they differ from those it
        has: a spare gets the last run's ahead (_Spares.refill), which takes 0.4-0.5 ms of cgroup
        writes off the request path when the next run asks the same."""
        if self.group is not None and limits != self.group_limits:
            self.group.limit(*limits)
            self.group_limits = limits

    def _why_not_ready(self) -> str:
        """bwrap's own last word when it ended during its setup, else the wait that ran out."""
        if self.process.returncode is None or self.process.returncode < 0:
            return f"it was not set up within {_READY_S:.0f} s"
        assert self.process.stderr is not None
        fd = self.process.stderr.fileno()
        os.set_blocking(fd, False)
        with contextlib.suppress(BlockingIOError):
            said = os.read(fd, 65536).decode(errors="replace").splitlines()
            return next(
                (line for line in reversed(said) if line.startswith("bwrap:")),
                said[-1] if said else "bwrap exited early",
            )
        return "bwrap exited early"

    def _pid1(self) -> int:
        found = re.search(rb'"child-pid": *(\d+)', self.status)
        assert found is not None  # ready() saw it
        return int(found.group(1))

    def started_the_program(self) -> bool:
        """Whether bwrap set the sandbox up and its program ran to an exit of its own (bwrap
        writes the exit-code record only then: not when a mount, the exec or the namespaces
        failed)."""
        self._read_status()
        return b'"exit-code"' in self.status

    def reap_init(self) -> resource.struct_rusage | None:
        """In rlimit mode, once bwrap is gone: wait for the sandbox's pid 1, which comes back to
        this process (functions/subreaper.py), and return its rusage (the whole run's); else
        None."""
        if self.group is not None or self.reaped or self.status_fd < 0:
            return None
        self.reaped = True
        self._read_status()
        found = re.search(rb'"child-pid": *(\d+)', self.status)
        return subreaper.reap(int(found.group(1))) if found else None

    def _read_status(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.status_fd, 4096):
                self.status += chunk

    def _close_fds(self, *fds: int) -> None:
        for fd in fds:
            if fd >= 0:
                os.close(fd)
            if fd == self.box_fd:
                self.box_fd = -1
            if fd == self.block_fd:
                self.block_fd = -1

    def close(self) -> None:
        """Kill it if still there, reap it, and remove its groups."""
        if self.closed:
            return
        self.closed = True
        if self.process.returncode is None:
            _kill(self.process)
            self.process.wait()
        self.reap_init()  # a run that ended early (an exception) leaves no zombie either
        self._close_fds(self.block_fd, self.box_fd)
        if self.stdin is not None:
            self.stdin.close()
        if self.status_fd >= 0:
            os.close(self.status_fd)
            self.status_fd = -1
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        if self.group is not None:
            self.group.retire()


def _fitting(prepared: _Prepared | None, limits: GroupLimits) -> _Prepared | None:
    """`prepared` when it can serve a run with `limits`, else None (it is closed: the run starts
    one of its own under them). Closed too when asking failed, as release would close it."""
    if prepared is None:
        return None
    try:
        if prepared.fits(limits):
            return prepared
    except BaseException:
        prepared.close()
        raise
    prepared.close()
    return None


def _prestart_at(command: Sequence[str], env: Mapping[str, str]) -> int | None:
    """Where in `command` its program begins when that program can start ahead of its run
    (functions/prestart.py: python's launcher, or the shell's waiter in an environment `env`),
    else None (so also behind the wrapper that packs a compile's box). Whether it does is the
    key's (SENTINEL_PRESTART, read when the run comes)."""
    program = _program_of(command)
    at = len(command) - len(program)
    packed = tuple(command[:at][-len(box_files.PACK) :]) == box_files.PACK
    shell = prestart.waits_in_shell(program, env) and _children_listed()
    if packed or not (prestart.prestartable(program) or shell):
        return None
    return at


@functools.cache
def _children_listed() -> bool:
    """Whether this kernel lists a task's children (CONFIG_PROC_CHILDREN), which is how a
    waiting shell is found (`_stopped_child`); without it programs start as bwrap execs them."""
    return os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _exec_checked(command: Sequence[str], at: int | None) -> str:
    """The program a shell waiter will exec for `command` started ahead from `at`, else ""."""
    if at is None or prestart.prestartable(command[at:]):
        return ""
    return command[at]


def _stopped_child(pid1: int) -> int:
    """The host pid of the one child of the sandbox's pid 1 once it is stopped (a shell waiting
    for its SIGCONT: functions/prestart.py), else 0."""
    try:
        with open(f"/proc/{pid1}/task/{pid1}/children", "rb") as listed:
            children = listed.read().split()
        if len(children) != 1:
            return 0
        with open(f"/proc/{int(children[0])}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return 0
    return int(children[0]) if state == b"T" else 0


def _set_up_box(pid1: int, own_root: os.stat_result) -> int:
    """The /box of the sandbox whose pid 1 is `pid1`, opened, once bwrap has set it up; else -1.

    Set up means: its root is no longer ours (bwrap has pivoted), and /box in it is a mount of its
    own (a different device from that root). The first pivot of bwrap (into its scratch tmpfs)
    has no /box, so only the final root passes; the box is then checked to be empty."""
    root = f"/proc/{pid1}/root"
    try:
        top = os.stat(root)
        if (top.st_dev, top.st_ino) == (own_root.st_dev, own_root.st_ino):
            return -1
        fd = os.open(f"{root}{BOX}", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return -1
    if os.fstat(fd).st_dev == top.st_dev or os.listdir(fd):
        os.close(fd)
        return -1
    return fd


class _Spares:
    """Prepared sandboxes per command, refilled by one background thread after each take.

    Bounded: at most `MAX_SPARES` over all commands (a command line carries a submission's own
    arguments, so strangers can make as many commands as they like); the least recently used
    command's spares are closed first.
    """

    def __init__(self) -> None:
        self._ready: OrderedDict[_Key, list[_Prepared]] = OrderedDict()
        self._lock = threading.Lock()
        # (command, limits, top-up): a top-up is the second spare of a command, made only while
        # it evicts nobody's (so commands in use keep one each, as many as MAX_SPARES allows).
        self._wanted: queue.SimpleQueue[tuple[_Key, GroupLimits, bool]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closing = False
        # The command whose spare the thread is setting up (or adding, or closing) right now,
        # and a condition on _lock notified when that ends: a run waits for its command's, and
        # closing waits for any (at exit, a sandbox half prepared would leave its groups behind).
        self._making: _Key | None = None
        self._changed = threading.Condition(self._lock)

    def take(self, key: _Key) -> _Prepared | None:
        """A prepared sandbox for `key`, or None. A run whose command's spare is still being
        set up waits for that one: it was started before any the run could start now, so
        waiting is never the slower way (a C++ run that came while its spare was 2 ms from
        ready was spawned cold instead, 10-15 ms more on the request path)."""
        with self._lock:
            self._changed.wait_for(
                lambda: bool(self._ready.get(key)) or self._making != key, timeout=_READY_S
            )
            ready = self._ready.get(key)
            if ready is not None:
                self._ready.move_to_end(key)
            # the oldest: a prestarted interpreter made just after the last run may still be
            # starting (functions/prestart.py), the one before it has had a whole run's time
            return ready.pop(0) if ready else None

    def refill(self, key: _Key, limits: GroupLimits) -> None:
        """Bring `key`'s spares up to _SPARES_PER_COMMAND (the second only while that evicts
        no other command's), with the group limits of the run that took the last one (the next
        run most likely has the same: its release then writes none)."""
        with self._lock:
            if self._thread is None:
                # Long-lived on purpose: a prepared bwrap gets SIGKILL when the thread that
                # started it ends (--die-with-parent follows the parent thread).
                self._thread = threading.Thread(target=self._loop, name="spares", daemon=True)
                self._thread.start()
        self._wanted.put((key, limits, False))

    def count(self) -> int:
        """How many prepared sandboxes wait right now."""
        with self._lock:
            return self._held()

    def _held(self) -> int:
        """count(), for a caller holding the lock."""
        return sum(len(ready) for ready in self._ready.values())

    def close(self) -> None:
        """Close every prepared sandbox, the one being prepared included; none is made after."""
        with self._lock:
            self._closing = True
            self._changed.wait_for(lambda: self._making is None, timeout=_READY_S + 5)
            spares = [p for ready in self._ready.values() for p in ready]
            self._ready.clear()
        for prepared in spares:
            with contextlib.suppress(OSError):
                prepared.close()

    def _loop(self) -> None:
        while True:
            key, limits, top_up = self._wanted.get()
            with self._lock:
                if self._closing or len(self._ready.get(key, ())) >= _SPARES_PER_COMMAND:
                    continue
                if top_up and self._held() >= MAX_SPARES:
                    continue
                self._making = key
            try:
                added = self._add(key, self._prepare(key, limits))
            finally:
                with self._lock:
                    self._making = None
                    self._changed.notify_all()
            if added:
                self._wanted.put((key, limits, True))  # up to _SPARES_PER_COMMAND (see above)

    def _add(self, key: _Key, prepared: _Prepared | None) -> bool:
        """Put a new spare in, or close it when closing has begun; called while `_making` is
        still set, so that close() returns only once this one is settled either way (at exit, a
        spare closed after it would leave its groups behind). Whether it was kept (neither a
        failure, nor closing, nor evicted at once to hold MAX_SPARES)."""
        if prepared is None:
            return False
        with self._lock:
            if self._closing:
                evicted = [prepared]
            else:
                self._ready.setdefault(key, []).append(prepared)
                self._ready.move_to_end(key)
                evicted = self._over_bound()
                self._changed.notify_all()  # a run may be waiting for this one
        for spare in evicted:
            with contextlib.suppress(OSError):
                spare.close()
        return all(spare is not prepared for spare in evicted)

    @staticmethod
    def _prepare(key: _Key, limits: GroupLimits) -> _Prepared | None:
        """One spare, set up and blocked; None when that failed (the next run then starts cold,
        and reports the fault if it persists)."""
        try:
            prepared = _Prepared.spawn(key, delegation(), limits)
        except OSError:
            return None
        try:
            if prepared.ready():
                return prepared
        except OSError:
            pass
        prepared.close()
        return None

    def _over_bound(self) -> list[_Prepared]:
        """Take spares until MAX_SPARES hold (locked): a command's second first (the least
        recently used command's that has two), so that as many commands as MAX_SPARES keep one
        each; then the least recently used commands' last ones."""
        evicted: list[_Prepared] = []
        while self._held() > MAX_SPARES:
            doubled = (key for key, ready in self._ready.items() if len(ready) > 1)
            oldest = next(doubled, None) or next(iter(self._ready))
            ready = self._ready[oldest]
            evicted.append(ready.pop())  # its newest: take() uses the oldest first
            if not ready:
                del self._ready[oldest]
        return evicted


_SPARES = _Spares()
atexit.register(_SPARES.close)


def spare_count() -> int:
    """Prepared sandboxes waiting now (bounded by MAX_SPARES)."""
    return _SPARES.count()


_DELEGATION: list[cgroups.Delegation | None] = []
_DELEGATION_LOCK = threading.Lock()


def delegation() -> cgroups.Delegation | None:
    """Probed once per process: the cgroups we may use, or None. Under a lock: on v2 the probe
    moves this process into its leaf, and /health, the spares and the precompiled headers'
    build all ask at start (a second probe racing the first gave "rlimit" in the VM test).

    SENTINEL_LIMITS=rlimit (functions/settings.py) skips the probe: rlimits only, as in a pod,
    on a host that would delegate (the tests of that mode, or an operator who wants it)."""
    with _DELEGATION_LOCK:
        if not _DELEGATION:
            forced = settings.limits_wanted() == "rlimit"
            _DELEGATION.append(None if forced else cgroups.delegation())
            if _DELEGATION[0] is None:
                subreaper.enable()
        return _DELEGATION[0]


def _sandbox_args(binds: Sequence[tuple[str, str]], filter_fd: int) -> list[str]:
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
    for host_path, inside in binds:
        args += ["--ro-bind", host_path, inside]
    # /proc and /dev follow (functions/procfs.py); with a private procfs, bwrap covers
    # /proc/sys, /proc/sysrq-trigger, /proc/irq and /proc/bus read-only itself.
    return args


def _program_of(command: Sequence[str]) -> Sequence[str]:
    """The program's own command line, without the wrappers in front of it: rlimit mode's
    prlimit(1) (functions/rlimits.py) and the one that packs a compile's /box."""
    if command and command[0] == rlimits.PRLIMIT and "--" in command:
        command = command[list(command).index("--") + 1 :]
    pack = len(box_files.PACK)
    return command[pack:] if tuple(command[:pack]) == box_files.PACK else command


def _run_args(tmp_bytes: int, box_bytes: int, env: Sequence[tuple[str, str]]) -> list[str]:
    """The sized tmpfs mounts, the empty /box, the root read-only, the environment."""
    args = [
        "--size",
        str(tmp_bytes),
        "--tmpfs",
        "/tmp",
        "--size",
        str(tmp_bytes),
        "--tmpfs",
        "/dev/shm",
        "--size",
        str(box_bytes),
        "--tmpfs",
        BOX,
    ]
    # The root is bwrap's own tmpfs: read-only, or it is an unbounded place to write.
    args += ["--remount-ro", "/", "--chdir", BOX]
    for name, value in env:
        args += ["--setenv", name, value]
    return args


@dataclass
class _Seen:
    """What `_collect` saw of a run: its output, and which limit (if any) it was killed at;
    in rlimit mode also the largest sums the watch saw (functions/process_tree.py)."""

    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False
    output_exceeded: bool = False
    over_cpu: bool = False
    over_memory: bool = False
    cpu_ms: int = 0
    memory_kb: int = 0
    tasks: int = 0
    next_watch: float = 0.0  # rlimit mode: polls spaced to ten times their own cost
    # a group's CPU time: read every _POLL_S, not at each chunk of output (a short run's figure
    # is read once, at its end, by the run's usage)
    next_cpu_check: float = 0.0

    @property
    def killed(self) -> bool:
        return self.timed_out or self.output_exceeded or self.over_cpu or self.over_memory

    def watch(self, prepared: _Prepared, limits: RunLimits) -> None:
        """One poll: the run's CPU time against its limit (a cgroup's figure, or the process
        tree's sums in rlimit mode, with its memory against the memory limit)."""
        if prepared.group is not None:
            moment = time.monotonic()
            if moment >= self.next_cpu_check:
                self.next_cpu_check = moment + _POLL_S
                self.over_cpu = prepared.group.cpu_ms() > limits.cpu_ms
            return
        began = time.monotonic()
        if began < self.next_watch:
            return
        near = _near_limit_kb(limits.memory_kb)
        now = process_tree.totals(prepared.process.pid, near, limits.memory_kb)
        # Near the limit the poll matters most: spaced to twice its cost only, else ten times.
        spacing = 2 if now.proportional else 10
        self.next_watch = began + spacing * (time.monotonic() - began)
        self.cpu_ms = max(self.cpu_ms, now.cpu_ms)
        self.memory_kb = max(self.memory_kb, now.memory_kb)
        self.tasks = max(self.tasks, now.tasks)
        self.over_cpu = now.cpu_ms > limits.cpu_ms
        self.over_memory = now.memory_kb > limits.memory_kb


def _collect(prepared: _Prepared, limits: RunLimits, started: float, stdout_cap: int) -> _Seen:
    """Read stdout (up to `stdout_cap`) and stderr (up to the output limit) until both close or
    the wall limit passes.

    Every _POLL_S the run's CPU time (all its processes and threads) is checked, so a
    multi-threaded or forking burner is stopped at the CPU limit rather than at the wall limit;
    in rlimit mode its memory (summed over its processes) too, as a cgroup would hold it.
    """
    process = prepared.process
    assert process.stderr is not None
    streams = [s for s in (process.stdout, process.stderr) if s is not None]
    out_fd = process.stdout.fileno() if process.stdout is not None else -1
    err_fd = process.stderr.fileno()
    buffers = {out_fd: bytearray(), err_fd: bytearray()}
    caps = {out_fd: stdout_cap, err_fd: limits.output_bytes}
    # The pidfd turns readable when bwrap exits: a program that closes its output and then
    # sleeps is still held to the wall limit.
    pidfd = os.pidfd_open(process.pid)
    selector = selectors.DefaultSelector()
    for stream in streams:
        selector.register(stream, selectors.EVENT_READ)
    selector.register(pidfd, selectors.EVENT_READ)
    deadline = started + limits.wall_ms / 1000
    seen = _Seen(next_cpu_check=started + _POLL_S)
    try:
        while selector.get_map() and not seen.killed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen.timed_out = True
                break
            every = _POLL_S if prepared.group is not None else _RLIMIT_POLL_S
            for key, _ in selector.select(min(remaining, every)):
                if key.fd == pidfd:
                    selector.unregister(pidfd)
                    continue
                chunk = os.read(key.fd, _READ_CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = buffers[key.fd]
                buffer += chunk
                if len(buffer) > caps[key.fd]:
                    del buffer[caps[key.fd] :]
                    seen.output_exceeded = True
            if pidfd in selector.get_map():  # still running: a poll
                seen.watch(prepared, limits)
        if seen.killed:
            _kill(process)
    finally:
        selector.close()
        os.close(pidfd)
        for stream in streams:
            stream.close()
    seen.stdout, seen.stderr = bytes(buffers[out_fd]), bytes(buffers[err_fd])
    return seen


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the outer bwrap; its child (the sandbox's pid 1) follows, and with it everything."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _inner_signal(exit_code: int) -> int | None:
    """bwrap exits 128+N when the sandboxed program was killed by signal N."""
    if exit_code > 128 and exit_code - 128 in {s.value for s in signal.Signals}:
        return exit_code - 128
    return None
