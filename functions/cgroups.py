"""Per-run cgroups (v1 or v2): the kernel's limits on memory and processes, and exact accounting.

Why a cgroup and not rlimits: rlimits are per process (RLIMIT_CPU, RLIMIT_AS and RLIMIT_DATA
hold each process, not the run), RLIMIT_AS counts reserved address space, which Java, Go and
Node reserve by the gigabyte, and the kernel enforces a group's limits at once where the
rlimit mode's poll sees them only at its next look (functions/rlimits.py,
functions/process_tree.py). A group gives the resident peak, the OOM kills, the CPU time of
every process that ever lived in it, and a limit on the number of tasks.

Each run gets a fresh group named sentinel-<pid>-<n>, where <pid> is the process that made it
(so a sweep at start can tell a dead executor's groups from live ones, `sweep_stale`).

- cgroup v1 (memory, pids and cpuacct hierarchies, as on hybrid hosts): one group per controller
  under this process's own group in each; memory.limit_in_bytes and memory.memsw.limit_in_bytes,
  pids.max, cpuacct.usage, memory.max_usage_in_bytes, memory.oom_control.
- cgroup v2 (one unified hierarchy, as on a current Debian with systemd): one group under the
  delegated group (a systemd `Delegate=yes` scope, or a subtree handed over by the supervisor,
  sentinel/cgroup_delegation.py); memory.max with memory.swap.max 0, pids.max, cpu.stat usage_usec,
  memory.peak, memory.events oom_kill, cgroup.kill. The kernel lets a non-root group either hold
  processes or give controllers to its children, never both, so the executor first moves itself
  into a leaf child (`executor`) and then enables the controllers in the delegated group's
  cgroup.subtree_control; the runs' groups are siblings of that leaf.

v1 is tried first, so a hybrid host keeps what it always had; rlimits (functions/sandbox.py) are
the fallback when neither is delegated. Moving a process into a group waits for an RCU grace
period (9-15 ms on v1 here, measured): the caller moves a process that has not started
its work yet (a prepared sandbox, see functions/sandbox.py), so that wait is paid before the
request.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import itertools
import os
import queue
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids", "cpuacct")
V2_REQUIRED = ("memory", "pids")  # cpu.stat exists without the cpu controller; +cpu if offered
V2_WANTED = ("memory", "pids", "cpu")
UNIFIED = "unified"  # the key of the one v2 group in Delegation.parents and Group.paths
LEAF = "executor"  # on v2, where the executor's own processes live, beside the runs' groups
# Leaves that hold a group owner's own processes: the executor's, and a supervisor's that hands
# a subtree to the executor (sentinel/cgroup_delegation.py).
LEAVES = (LEAF, "supervisor")
_claiming = threading.Lock()
_STALE = re.compile(r"sentinel-(\d+)-\d+")
_counter = itertools.count()


@dataclass(frozen=True)
class Delegation:
    """Where this process may create groups: one writable directory per v1 controller, or the
    one delegated v2 group (key UNIFIED)."""

    parents: dict[str, Path]
    version: int = 1

    @property
    def mode(self) -> str:
        """What /health reports as the limits in force: "cgroup-v1" or "cgroup-v2"."""
        return f"cgroup-v{self.version}"


@dataclass(frozen=True)
class Usage:
    """What a run's group measured. `memory_peak_kb` is None when the kernel keeps no peak
    (v2 before Linux 5.19, no memory.peak) and the run was not stopped at its limit: the caller
    then has only rusage's figure."""

    cpu_ms: int
    memory_peak_kb: int | None
    oom_killed: bool
    memory_hit_limit: bool


def delegation() -> Delegation | None:
    """The groups this process may create children in (v1 first, then v2), or None (rlimits)."""
    found = _v1(own_v1_groups()) or _v2()
    if found is None:
        return None
    try:  # a probe: the directory may be writable and still refuse children
        Group.create(found).remove()
    except OSError:
        return None
    return found


def own_v1_groups() -> dict[str, Path]:
    """This process's group directory in each v1 hierarchy, by controller, as
    /proc/self/cgroup says (the supervisor nests the executor's groups there too)."""
    own: dict[str, Path] = {}
    for line in _lines(Path("/proc/self/cgroup")):
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            if controller:
                own[controller] = ROOT / controller / path.lstrip("/")
    return own


def _v1(own: dict[str, Path]) -> Delegation | None:
    parents: dict[str, Path] = {}
    for controller in CONTROLLERS:
        if controller not in own:
            return None
        parent = own[controller]
        if not (parent / "cgroup.procs").exists() or not os.access(parent, os.W_OK):
            return None
        parents[controller] = parent
    return Delegation(parents)


def _v2() -> Delegation | None:
    group = claim(LEAF)
    return Delegation({UNIFIED: group}, version=2) if group is not None else None


def claim(leaf: str) -> Path | None:
    """This process's v2 group made able to hold children with limits, or None.

    The group's members (this process and any others, a gunicorn master and its worker share
    one) move into its child `leaf`, then the controllers are enabled in its
    cgroup.subtree_control. Nothing is written unless the group offers memory and pids and is
    writable, and never to a hierarchy's root (it has no cgroup.type): on a hybrid host the v2
    hierarchy without controllers is left exactly as it is. Called again from inside a leaf
    (LEAVES) whose parent already gives the controllers, it answers that parent.
    """
    with _claiming:  # threads of one process: one moves, the others then see its leaf
        return _claim(leaf)


def _claim(leaf: str) -> Path | None:
    mount, own_path = cgroup2_mount(), own_v2_path()
    if mount is None or own_path is None:
        return None
    own = mount / own_path.lstrip("/")
    if own.name in LEAVES and _offers(own.parent, "cgroup.subtree_control", V2_REQUIRED):
        group = own.parent
    else:
        group = own
    if not (group / "cgroup.type").exists() or not os.access(group, os.W_OK):
        return None
    if not _offers(group, "cgroup.controllers", V2_REQUIRED):
        return None
    try:
        if group == own:
            (group / leaf).mkdir(exist_ok=True)
            for pid in [os.getpid(), *_members(group)]:
                with contextlib.suppress(ProcessLookupError):
                    _write(group / leaf / "cgroup.procs", pid)
        offered = (group / "cgroup.controllers").read_text().split()
        wanted = " ".join(f"+{c}" for c in V2_WANTED if c in offered)
        _write_text(group / "cgroup.subtree_control", wanted)
    except OSError:
        return None
    return group


def own_v2_path() -> str | None:
    """This process's group in the unified hierarchy, as /proc/self/cgroup's `0::` line says."""
    for line in _lines(Path("/proc/self/cgroup")):
        if line.startswith("0::"):
            return line[3:]
    return None


def cgroup2_mount() -> Path | None:
    """Where the unified hierarchy is mounted (/sys/fs/cgroup, or .../unified on hybrid hosts)."""
    for line in _lines(Path("/proc/self/mountinfo")):
        fields = line.split(" - ", 1)
        if len(fields) == 2 and fields[1].split()[0] == "cgroup2":
            return Path(fields[0].split()[4])
    return None


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def _offers(group: Path, name: str, controllers: tuple[str, ...]) -> bool:
    try:
        present = (group / name).read_text().split()
    except OSError:
        return False
    return all(c in present for c in controllers)


class Group:
    """One run's groups (one per v1 controller, or one v2 group); created, limited, joined,
    read, killed, removed."""

    def __init__(self, paths: dict[str, Path], version: int = 1) -> None:
        self.paths = paths
        self.version = version

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
            Group(paths, where.version).remove()
            raise
        return cls(paths, where.version)

    def limit(self, memory_bytes: int, processes: int) -> None:
        """Memory (with swap off or counted in, so swap is no way out) and the number of tasks."""
        if self.version == 2:
            group = self.paths[UNIFIED]
            _write(group / "memory.max", memory_bytes)
            with contextlib.suppress(FileNotFoundError):  # no swap accounting on this kernel
                _write(group / "memory.swap.max", 0)
            _write(group / "pids.max", processes)
            return
        memory = self.paths["memory"]
        limit, memsw = memory / "memory.limit_in_bytes", memory / "memory.memsw.limit_in_bytes"
        # v1 refuses (EINVAL) a memory limit above memsw's: lowering both writes the memory
        # limit first, raising them memsw first (a spare's group may hold the last run's limits,
        # functions/sandbox.py).
        try:
            _write(limit, memory_bytes)
            with contextlib.suppress(FileNotFoundError):  # no swap accounting on this kernel
                _write(memsw, memory_bytes)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            _write(memsw, memory_bytes)
            _write(limit, memory_bytes)
        _write(self.paths["pids"] / "pids.max", processes)

    def join(self, pid: int) -> None:
        """Move `pid` (and the children it forks later) into every group of the run."""
        for path in self.paths.values():
            _write(path / "cgroup.procs", pid)

    def cpu_ms(self) -> int:
        """CPU time so far of every process that was in the group."""
        if self.version == 2:
            stat = _flat_keyed(self.paths[UNIFIED] / "cpu.stat")
            return stat.get("usage_usec", 0) // 1000
        return int(_read(self.paths["cpuacct"] / "cpuacct.usage")) // 1_000_000

    def usage(self) -> Usage:
        """CPU time of every process the run had, the memory peak, and whether OOM struck."""
        if self.version == 2:
            return self._usage_v2()
        memory = self.paths["memory"]
        oom = _flat_keyed(memory / "memory.oom_control")
        return Usage(
            cpu_ms=self.cpu_ms(),
            memory_peak_kb=int(_read(memory / "memory.max_usage_in_bytes")) // 1024,
            oom_killed=oom.get("oom_kill", 0) > 0,
            memory_hit_limit=int(_read(memory / "memory.failcnt")) > 0,
        )

    def _usage_v2(self) -> Usage:
        group = self.paths[UNIFIED]
        events = _flat_keyed(group / "memory.events")
        oom_killed = events.get("oom_kill", 0) > 0
        try:
            peak: int | None = int(_read(group / "memory.peak")) // 1024
        except FileNotFoundError:
            # No peak before Linux 5.19: a run killed at its limit reached the limit.
            limit = (group / "memory.max").read_text().strip()
            peak = int(limit) // 1024 if oom_killed and limit != "max" else None
        return Usage(
            cpu_ms=self.cpu_ms(),
            memory_peak_kb=peak,
            oom_killed=oom_killed,
            memory_hit_limit=events.get("max", 0) > 0,
        )

    def felt_limit(self) -> bool:
        """Whether its memory limit was reached at least once (an OOM kill reaches it too): the
        one file of `usage` that says so, for a spare's check on the request path."""
        if self.version == 2:
            return _flat_keyed(self.paths[UNIFIED] / "memory.events").get("max", 0) > 0
        return int(_read(self.paths["memory"] / "memory.failcnt")) > 0

    def kill(self) -> None:
        """SIGKILL whatever is left (the pid namespace normally took care of it already).

        v2 has cgroup.kill (Linux 5.14+), which also reaches a process forked while we look;
        v1, or an older v2, gets a signal per listed process, a few rounds.
        """
        if self.version == 2:
            with contextlib.suppress(FileNotFoundError):
                _write(self.paths[UNIFIED] / "cgroup.kill", 1)
                return
        for _ in range(10):
            pids = {pid for path in self.paths.values() for pid in _members(path)}
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

    def retire(self) -> None:
        """Kill and remove the groups in the background: a run's result does not wait for it.

        Why: rmdir of a v1 group that just held processes takes about 3 ms per controller here
        (10 ms of a C hello's 20 ms were the three rmdirs), and nothing of the run is left to
        read once its usage is taken. A group still there when the executor dies is swept at
        the next start (`sweep_stale`)."""
        with _RETIRING_LOCK:
            if not _RETIRING_THREAD:
                thread = threading.Thread(
                    target=_remove_retired, name="cgroup-remover", daemon=True
                )
                thread.start()
                _RETIRING_THREAD.append(thread)
        _RETIRING.put(self)


_RETIRING: queue.SimpleQueue[Group] = queue.SimpleQueue()
_RETIRING_LOCK = threading.Lock()
_RETIRING_THREAD: list[threading.Thread] = []
_REMOVING = threading.Lock()  # held while the remover removes one


def _remove_retired() -> None:
    while True:
        group = _RETIRING.get()
        with _REMOVING, contextlib.suppress(OSError):
            group.kill()
            group.remove()


def settle() -> None:
    """Remove now every retired group the background remover has not removed yet, and wait for
    the one it is removing. Run at exit (registered below, so after the sandbox's own exit
    handler has closed its prepared sandboxes): an executor that stops cleanly leaves no group
    behind, not even one for the next start's sweep."""
    while True:
        try:
            group = _RETIRING.get_nowait()
        except queue.Empty:
            break
        with contextlib.suppress(OSError):
            group.kill()
            group.remove()
    with _REMOVING:
        pass


atexit.register(settle)


def sweep_stale(where: Delegation) -> list[Path]:
    """Kill and remove the groups a dead process left (an executor killed with SIGKILL has no
    chance to); the paths removed.

    A group is stale when the pid in its name is not this process and no longer runs: the
    groups of live executors beside this one (other tests, other slots) are left alone.
    """
    removed = []
    for controller, parent in where.parents.items():
        for path in sorted(parent.iterdir()):
            match = _STALE.fullmatch(path.name)
            if match is None or not path.is_dir():
                continue
            pid = int(match.group(1))
            if pid == os.getpid() or alive(pid):
                continue
            group = Group({controller: path}, where.version)
            group.kill()
            group.remove()
            removed.append(path)
    return removed


def alive(pid: int) -> bool:
    """Whether process `pid` still runs (also one of another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_tree(group: Path) -> None:
    """Kill every process in `group` and the groups below it, then remove them, deepest first
    (the supervisor's executor groups, sentinel/executor_identity.py)."""
    for child in [p for p in group.iterdir() if p.is_dir()]:
        remove_tree(child)
    Group({"pids": group}).kill()
    Group({"pids": group}).remove()


def _write(path: Path, value: int) -> None:
    _write_text(path, str(value))


def _write_text(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _read(path: Path) -> str:
    """A small cgroup file's text, in one read: a run's figures are read on the request path,
    and this takes half of what `Path.read_text` does (its decoder and buffering)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536).decode()
    finally:
        os.close(fd)


def _flat_keyed(path: Path) -> dict[str, int]:
    """A cgroup file of `key value` lines (cpu.stat, memory.events, memory.oom_control)."""
    pairs = (line.split() for line in _read(path).splitlines())
    return {pair[0]: int(pair[1]) for pair in pairs if len(pair) == 2 and pair[1].isdigit()}


def _members(group: Path) -> list[int]:
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []
