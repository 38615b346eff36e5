"""On one cgroup-v2 machine, the supervisor gives the executor a cgroup subtree of its own.

Why: the executor limits each run with a group of its own (functions/cgroups.py), and on v2 it
may only create groups where it has been delegated a subtree; without one it falls back to
rlimits. Where systemd runs, the executor starts in a transient scope with `Delegate=yes`
(`systemd-run --scope`), as systemd asks of anyone managing cgroups below it. As root without
systemd, the supervisor moves itself into a leaf of its own group (`supervisor`), enables the
controllers there, and creates the executor's group beside that leaf.

An executor that runs as another user must own its group: the directory and cgroup.procs,
cgroup.threads and cgroup.subtree_control (the files the kernel's delegation model gives a
delegatee). systemd 252 does not chown a scope's group to `systemd-run --scope --uid` (seen in
the guest of tests/test_cgroup_v2_vm.py), and moving a process out of the supervisor's leaf takes
root, so both are done as root by this module's entry point, run first in the executor's argv
(`python -m sentinel.cgroup_delegation`): it joins or takes over the group, drops to the owner,
re-arms the parent-death signal (the kernel clears it on a change of uid), and execs the
executor. The caller therefore starts the prefix as root and does not drop privileges itself.

On a v1 or hybrid host (memory in a v1 hierarchy, as on the machines this project is built on)
nothing is done: the executor uses v1 as before, and the host's v2 hierarchy is never touched.
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from functions import cgroups

SUPERVISOR_LEAF = "supervisor"
# The files a delegatee writes (kernel cgroup-v2 "Delegation"): procs, threads, controllers.
DELEGATED_FILES = ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control")
PR_SET_PDEATHSIG, PR_GET_PDEATHSIG = 1, 2
_units = itertools.count()


@dataclass(frozen=True)
class ExecutorGroup:
    """How to start the executor so that it has a cgroup-v2 subtree of its own: put `prefix`
    before its argv (empty when there is nothing to do).

    `how` is "systemd-scope", "subtree" (handed over without systemd) or "inherited" (v1, a
    hybrid host, not root, or no way to delegate); `path` is the group the executor starts in.
    """

    how: str
    prefix: tuple[str, ...] = ()
    path: Path | None = None


def executor_group(
    name: str = "executor", owner: tuple[int, int] | None = None, systemd: bool | None = None
) -> ExecutorGroup:
    """The delegation the supervisor uses to start the executor `name`, run as `owner` (uid,
    gid) when given. `systemd` None: use systemd where it runs; False: hand a subtree over, as
    on a host without systemd."""
    mount = cgroups.cgroup2_mount()
    if mount is None or not _v2_has_memory(mount) or os.geteuid() != 0:
        return ExecutorGroup("inherited")
    run = shutil.which("systemd-run")
    if systemd is None:
        systemd = run is not None and Path("/run/systemd/system").is_dir()
    if systemd and run is not None:
        unit = f"sentinel-{name}-{os.getpid()}-{next(_units)}"
        scope = [run, "--scope", "--quiet", "--collect", "-p", "Delegate=yes", f"--unit={unit}"]
        scope += ["--slice=system.slice", "--"]
        enter = _enter("--take-over", owner) if owner is not None else []
        path = mount / "system.slice" / f"{unit}.scope"
        return ExecutorGroup("systemd-scope", (*scope, *enter), path)
    base = cgroups.claim(SUPERVISOR_LEAF)
    if base is None:
        return ExecutorGroup("inherited")
    group = base / f"delegated-{name}"
    group.mkdir(exist_ok=True)
    if owner is not None:
        _give(group, owner)
    return ExecutorGroup("subtree", tuple(_enter(f"--join={group}", owner)), group)


def _enter(how: str, owner: tuple[int, int] | None) -> list[str]:
    user = [f"--user={owner[0]}:{owner[1]}"] if owner is not None else []
    return [sys.executable, "-m", "sentinel.cgroup_delegation", how, *user, "--"]


def _give(group: Path, owner: tuple[int, int]) -> None:
    for path in (group, *(group / name for name in DELEGATED_FILES)):
        os.chown(path, *owner)


def _v2_has_memory(mount: Path) -> bool:
    """Only a v2 hierarchy that holds the memory controller is worth delegating."""
    try:
        return "memory" in (mount / "cgroup.controllers").read_text().split()
    except OSError:
        return False


def main(argv: list[str] | None = None) -> None:
    """As root: join a group (--join) or take over the one systemd put us in (--take-over),
    become --user, exec the rest of the arguments."""
    parser = argparse.ArgumentParser(description="enter a delegated cgroup, then exec")
    parser.add_argument("--join", type=Path)
    parser.add_argument("--take-over", action="store_true")
    parser.add_argument("--user", help="uid:gid to run as")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    if args.join is not None:
        (args.join / "cgroup.procs").write_text(str(os.getpid()))
    if args.user is not None:
        uid, gid = (int(part) for part in args.user.split(":"))
        if args.take_over:
            mount, own = cgroups.cgroup2_mount(), cgroups.own_v2_path()
            if mount is None or own is None:
                raise SystemExit("no cgroup v2 group to take over")
            _give(mount / own.lstrip("/"), (uid, gid))
        libc = ctypes.CDLL(None, use_errno=True)
        death = ctypes.c_int(0)
        libc.prctl(PR_GET_PDEATHSIG, ctypes.byref(death))
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        if death.value:  # cleared by the change of uid; the supervisor relies on it
            libc.prctl(PR_SET_PDEATHSIG, death.value)
    os.execvp(args.command[0], args.command)


if __name__ == "__main__":
    main()
