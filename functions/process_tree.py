"""The processes of one running sandbox, seen from the host's /proc: their CPU time, memory and
number of tasks, summed over the run.

Why: in limits mode "rlimit" (no cgroup delegated, functions/rlimits.py) every rlimit is per
process. RLIMIT_CPU lets a run that forks 8 spinning children use 8 times its CPU time,
RLIMIT_AS and RLIMIT_DATA let each child have the whole memory limit. The sandbox
(functions/sandbox.py) polls this while a run goes on, and kills the run when a sum passes its
limit, which is what a cgroup does in the other modes (less exactly: see the limits below).

How: the run's processes are the outer bwrap's descendants, found through each task's
/proc/<pid>/task/<tid>/children (a process orphaned inside is adopted by the sandbox's pid 1, so
it stays in the tree; nothing inside can leave the pid namespace). CPU time is each process's
utime + stime (all its threads, the exited ones included) + cutime + cstime (the children it
reaped): the sum over the live tree is the CPU time of everything the run has had, save a
zombie's not yet reaped. Memory is first the sum of each process's resident set (rss of
/proc/<pid>/stat, read anyway): it stands while it is below a threshold (the caller passes where
the figure starts to matter), as an upper bound, and above it when the run is one program process
(beside bwrap's two, which share nothing with it). For a run of several processes above the
threshold, each one's proportional set size (Pss of /proc/<pid>/smaps_rollup) is summed instead,
largest first and only until it passes `stop_above_kb`: pages shared between a parent and its
forked children are split between them, not counted once per process (30 forked Python
processes: 303 MB of resident sets, 31 MB of Pss). Why not always: smaps_rollup walks the page
tables, 1 ms for a JVM hello and 17 ms for a process of 400 MB here.

The limits of a poll: what happens between two polls (`functions/sandbox.py` _RLIMIT_POLL_S,
spaced to at least ten times a poll's own cost) is seen only at the next, so a run may pass its
memory limit by what it can allocate in one poll interval before it is killed (the per-process
rlimits still hold each process), and its CPU limit by one interval times its number of cores.
A process that starts and ends between two polls is seen through the cutime of its reaper. The
executor reads these files as the sandbox's host uid's owner (the same uid, or root):
/proc/<pid>/smaps_rollup needs ptrace-read access, which the owner of the sandbox's user
namespace has.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGESIZE") // 1024
_BWRAPS = 2  # the outer bwrap and the sandbox's pid 1, the first two of a run's tree


@dataclass(frozen=True)
class Totals:
    """One look at a run: CPU time of everything it has had, memory it holds, tasks it has."""

    cpu_ms: int
    memory_kb: int
    tasks: int
    proportional: bool  # memory_kb is a sum of Pss (else of resident sets)


def totals(root: int, proportional_above_kb: int, stop_above_kb: int) -> Totals:
    """The sums over `root` (the outer bwrap) and every process below it, now; memory as Pss
    when several program processes' resident sets sum to more than `proportional_above_kb`
    (that sum stops once past `stop_above_kb`). Processes that end while they are read count as
    what was read of them."""
    cpu_ticks = resident_kb = tasks = 0
    resident: dict[int, int] = {}
    for pid in descendants(root):
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # after "pid (comm)": state is field 3; utime..cstime 14-17, num_threads 20, rss 24
        cpu_ticks += sum(int(value) for value in fields[11:15])
        tasks += int(fields[17])
        resident[pid] = int(fields[21]) * _PAGE_KB
        resident_kb += resident[pid]
    cpu_ms = round(cpu_ticks * _TICK_MS)
    if resident_kb <= proportional_above_kb or len(resident) <= _BWRAPS + 1:
        return Totals(cpu_ms, resident_kb, tasks, proportional=False)
    proportional_kb = 0
    for pid in sorted(resident, key=resident.__getitem__, reverse=True):
        proportional_kb += _pss_kb(pid)
        if proportional_kb > stop_above_kb:
            break
    return Totals(cpu_ms, proportional_kb, tasks, proportional=True)


def descendants(root: int) -> list[int]:
    """`root` and every process below it (those still there)."""
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(_children(pid))
    return found


def _children(pid: int) -> list[int]:
    children: list[int] = []
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return children
    for task in tasks:
        try:
            children.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return children


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _pss_kb(pid: int) -> int:
    try:
        rollup = (_PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return 0  # gone, or a zombie (no memory left to count)
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0
