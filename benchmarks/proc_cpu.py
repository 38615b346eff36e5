"""CPU time of a process tree, read from /proc (standard library only, so that
benchmarks/service_ab.py can load it beside any checkout's code)."""

from __future__ import annotations

import os
from pathlib import Path


def tree_cpu_ms(root: int) -> float:
    """CPU time so far of process `root` and its descendants, the exited and reaped ones
    included (their time is in their parent's cutime and cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    own: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        own[int(entry)] = sum(int(v) for v in fields[11:15])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += own.get(pid, 0)
        todo += children.get(pid, [])
    return total * 1000 / tick
