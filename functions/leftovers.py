"""What a killed executor leaves on disk, removed when the next one starts.

A job's work directory (<work_dir>/job-<pid>-…) and a compile's staging directory
(<cache>/compiled/.tmp/stage-<pid>-…) are removed by the executor that made them when the job
ends, and its directory of stdin files under the static /proc (<TMPDIR>/sentinel-stdin-<pid>-…)
when it exits; after a SIGKILL they stay. The pid in their names says whose they are: directories of
a process that no longer runs are removed, those of live executors (several may share a work
directory) are left alone. The run groups of a killed executor are swept the same way
(functions/cgroups.py sweep_stale).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from functions import cgroups

PATTERNS = ("job-*", "stage-*", "evict-*")
STDIN_PREFIX = "sentinel-stdin-"


def sweep(*parents: Path) -> int:
    """Remove the directories of dead executors under `parents`; how many."""
    removed = 0
    for parent in parents:
        if not parent.is_dir():
            continue
        for pattern in PATTERNS:
            for path in parent.glob(pattern):
                if _owner_is_gone(path.name) and path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                    removed += 1
    return removed


def sweep_stdin_files(parent: Path) -> int:
    """Remove the stdin directories (functions/procfs.py `StdinFile`, named
    sentinel-stdin-<pid>-…) that dead executors left under `parent`; how many."""
    removed = 0
    for path in parent.glob(f"{STDIN_PREFIX}*"):
        owner = path.name[len(STDIN_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not cgroups.alive(int(owner)) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _owner_is_gone(name: str) -> bool:
    parts = name.split("-")
    owner = parts[1] if len(parts) > 2 else ""
    return owner.isdigit() and not cgroups.alive(int(owner))
