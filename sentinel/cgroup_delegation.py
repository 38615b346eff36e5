"""On one cgroup-v2 machine, the supervisor gives the executor a cgroup subtree of its own.

Why: the executor limits each run with a group of its own (functions/cgroups.py), and on v2 it
may only create groups where it has been delegated a subtree; without one it falls back to
rlimits. Where systemd runs, the executor starts in a transient scope with `Delegate=yes`
(`systemd-run --scope`), as systemd's documentation asks of anyone managing cgroups below it.
As root without systemd, the supervisor moves itself into a leaf of its own group
(`supervisor`), enables the controllers there, creates the executor's group beside that leaf
and hands it over (chown of the directory and of cgroup.procs, cgroup.threads and
cgroup.subtree_control, the files the kernel's delegation model gives a delegatee).

On a v1 or hybrid host (memory in a v1 hierarchy, as on the machines this project is built on)
nothing is done: the executor uses v1 as before, and the host's v2 hierarchy is never touched.
"""

from __future__ import annotations

import itertools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from functions import cgroups

SUPERVISOR_LEAF = "supervisor"
# The files the delegatee writes (kernel cgroup-v2 "Delegation"): procs, threads, controllers.
DELEGATED_FILES = ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control")
_units = itertools.count()


@dataclass(frozen=True)
class ExecutorGroup:
    """How to start the executor so that it has a cgroup-v2 subtree of its own.

    `how` is "systemd-scope" (put `prefix` before the executor's argv), "subtree" (call `join`
    in the child before exec, before any privilege drop: moving a process out of the
    supervisor's leaf takes root), or "inherited" (nothing to do: v1, a hybrid host, or no way
    to delegate). `path` is the group the executor starts in.
    """

    how: str
    prefix: tuple[str, ...] = ()
    path: Path | None = None

    def join(self) -> None:
        """In the executor's process before exec: move into the handed-over group."""
        if self.how == "subtree" and self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))


def executor_group(
    name: str = "executor", owner: tuple[int, int] | None = None, systemd: bool | None = None
) -> ExecutorGroup:
    """The delegation the supervisor uses to start the executor `name` (owned by `owner`,
    uid and gid, when the executor runs as another user). `systemd` None: use systemd where it
    runs (False forces the hand-over, as on a host without systemd)."""
    mount = cgroups.cgroup2_mount()
    if mount is None or not _v2_has_memory(mount) or os.geteuid() != 0:
        return ExecutorGroup("inherited")
    run = shutil.which("systemd-run")
    if systemd is None:
        systemd = run is not None and Path("/run/systemd/system").is_dir()
    if systemd and run is not None:
        unit = f"sentinel-{name}-{os.getpid()}-{next(_units)}"
        user = ["--uid", str(owner[0]), "--gid", str(owner[1])] if owner else []
        prefix = [run, "--scope", "--quiet", "--collect", "-p", "Delegate=yes", f"--unit={unit}"]
        prefix += ["--slice=system.slice", *user, "--"]
        scope = mount / "system.slice" / f"{unit}.scope"
        return ExecutorGroup("systemd-scope", tuple(prefix), scope)
    base = cgroups.claim(SUPERVISOR_LEAF)
    if base is None:
        return ExecutorGroup("inherited")
    group = base / f"delegated-{name}"
    group.mkdir(exist_ok=True)
    if owner is not None:
        for path in (group, *(group / f for f in DELEGATED_FILES)):
            os.chown(path, *owner)
    return ExecutorGroup("subtree", (), group)


def _v2_has_memory(mount: Path) -> bool:
    """Only a v2 hierarchy that holds the memory controller is worth delegating."""
    try:
        return "memory" in (mount / "cgroup.controllers").read_text().split()
    except OSError:
        return False
