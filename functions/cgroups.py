"""Per-run cgroup v1 groups: the kernel's limits on memory and processes, and exact accounting.

Why a cgroup and not rlimits: RLIMIT_AS counts reserved address space, which Java, Go and Node
reserve by the gigabyte, so it cannot be their memory limit; RLIMIT_NPROC is not enforced for
host uid 0, which is who bubblewrap runs as; and rusage is lost for a run we kill. A group gives
the resident peak (memory.max_usage_in_bytes), the OOM kills (memory.oom_control), the CPU time
of every process that ever lived in it (cpuacct.usage), and pids.max.

Each run gets a fresh group under this process's own group in each controller (memory, pids,
cpuacct), named sentinel-<n>. Moving a process into a v1 group waits for an RCU grace period
(9-15 ms here, ../shared/FACTS.md): the caller moves a process that has not started its work yet
(a prepared sandbox, see functions/sandbox.py), so that wait is paid before the request.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids", "cpuacct")
_counter = itertools.count()


@dataclass(frozen=True)
class Delegation:
    """Where this process may create groups: one writable directory per controller."""

    parents: dict[str, Path]

    @property
    def mode(self) -> str:
        """What /health reports as the limits in force."""
        return "cgroup-v1"


@dataclass(frozen=True)
class Usage:
    """What a run's group measured."""

    cpu_ms: int
    memory_peak_kb: int
    oom_killed: bool
    memory_hit_limit: bool


def delegation() -> Delegation | None:
    """The v1 groups this process may create children in, or None (then rlimits only)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    own: dict[str, str] = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            own[controller] = path
    parents: dict[str, Path] = {}
    for controller in CONTROLLERS:
        if controller not in own:
            return None
        parent = ROOT / controller / own[controller].lstrip("/")
        if not (parent / "cgroup.procs").exists() or not os.access(parent, os.W_OK):
            return None
        parents[controller] = parent
    found = Delegation(parents)
    try:  # a probe: the directory may be writable and still refuse children
        Group.create(found).remove()
    except OSError:
        return None
    return found


class Group:
    """One run's groups (one per controller); created, limited, joined, read, removed."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths

    @classmethod
    def create(cls, where: Delegation) -> Group:
        """New empty groups, without limits yet."""
        name = f"sentinel-{os.getpid()}-{next(_counter)}"
        paths: dict[str, Path] = {}
        try:
            for controller, parent in where.parents.items():
                path = parent / name
                path.mkdir()
                paths[controller] = path
        except OSError:
            Group(paths).remove()
            raise
        return cls(paths)

    def limit(self, memory_bytes: int, processes: int) -> None:
        """Memory (and memory+swap, so swap is no way out) and the number of tasks."""
        memory = self.paths["memory"]
        _write(memory / "memory.limit_in_bytes", memory_bytes)
        with contextlib.suppress(FileNotFoundError):  # no swap accounting on this kernel
            _write(memory / "memory.memsw.limit_in_bytes", memory_bytes)
        _write(self.paths["pids"] / "pids.max", processes)

    def join(self, pid: int) -> None:
        """Move `pid` (and the children it forks later) into every group of the run."""
        for path in self.paths.values():
            _write(path / "cgroup.procs", pid)

    def cpu_ms(self) -> int:
        """CPU time so far of every process that was in the group."""
        return int((self.paths["cpuacct"] / "cpuacct.usage").read_text()) // 1_000_000

    def usage(self) -> Usage:
        """CPU time of every process the run had, the memory peak, and whether OOM struck."""
        memory = self.paths["memory"]
        oom = dict(
            line.split()
            for line in (memory / "memory.oom_control").read_text().splitlines()
            if line.strip()
        )
        return Usage(
            cpu_ms=self.cpu_ms(),
            memory_peak_kb=int((memory / "memory.max_usage_in_bytes").read_text()) // 1024,
            oom_killed=int(oom.get("oom_kill", "0")) > 0,
            memory_hit_limit=int((memory / "memory.failcnt").read_text()) > 0,
        )

    def kill(self) -> None:
        """SIGKILL whatever is left (the pid namespace normally took care of it already)."""
        for _ in range(10):
            pids = _pids(self.paths["pids"])
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.001)

    def remove(self) -> None:
        """Remove the groups; right after the last process exits rmdir says EBUSY: retry.

        A process killed while in the kernel (a compiler reading /dev/random) can take a while
        to exit, so the retries kill again and go on for up to about two seconds.
        """
        for path in self.paths.values():
            for attempt in range(400):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or attempt == 399:
                        raise
                    if attempt % 20 == 19:
                        self.kill()
                    time.sleep(0.0005 if attempt < 20 else 0.005)


def sweep_stale(where: Delegation) -> int:
    """Remove the run groups of executors that are gone (named sentinel-<pid>-<n>, the pid no
    longer running): a SIGKILLed executor leaves its spares' groups behind. Groups of live
    processes are left alone, so executors sharing a parent do not remove each other's."""
    removed = 0
    for parent in where.parents.values():
        for group in parent.glob("sentinel-*-*"):
            owner = group.name.split("-")[1]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists() and group.is_dir():
                with contextlib.suppress(OSError):
                    remove_tree(group)
                    removed += 1
    return removed


def remove_tree(group: Path) -> None:
    """Kill every process in `group` and the groups below it, then remove them, deepest first."""
    for child in [p for p in group.iterdir() if p.is_dir()]:
        remove_tree(child)
    Group({"pids": group}).kill()
    Group({"pids": group}).remove()


def _write(path: Path, value: int) -> None:
    with path.open("w") as handle:
        handle.write(str(value))


def _pids(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []
