"""On one machine, the executor runs as the dedicated unprivileged user `sentinel`, in cgroups the
supervisor made for it and handed over.

Why: the executor starts every sandbox, and a sandbox started by root has host root behind it
(functions/identity.py). Run as `sentinel`, the executor owns nothing but its work directory,
its cgroup subtree and its processes; bubblewrap then maps the sandbox's user to `sentinel`.

The supervisor, as root: makes the user when it is missing (useradd --system), makes
`sentinel-executor-<supervisor pid>-<n>` under its own group in each cgroup v1 controller the
sandbox uses (memory, pids, cpuacct; never anywhere else: these machines' own tooling keeps
their processes in a v1 memory group, so everything is nested under ours), gives the group's
directory and cgroup.procs to the user, and the executor joins it before it runs Python code
(functions/cgroups.py then finds its own group writable and creates one group per run inside).
Groups of supervisors that are gone are removed at the next start.

When the user cannot run the executor (the checkout or the interpreter is where it cannot read,
such as under /root), the executor runs as root, and says why in its log and in /health; the
sandbox still never runs as root (functions/identity.py switches bwrap to the user).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from functions import cgroups, identity

PREFIX = "sentinel-executor-"  # then the supervisor's pid and a serial number
_SERIAL = itertools.count()


@dataclass
class ExecutorIdentity:
    """How the supervisor starts the executor: as whom, with which interpreter, in which
    groups and with which work directory; `reason` says why it stays root when it does."""

    uid: int | None = None
    gid: int | None = None
    python: str = sys.executable
    env: dict[str, str] = field(default_factory=dict)
    groups: list[Path] = field(default_factory=list)
    work_dir: Path | None = None
    temporary_work_dir: bool = False
    reason: str = ""
    cgroup_reason: str = ""  # why no v1 group was handed over (moot where v2 delegates)

    def join(self) -> None:
        """In the executor's process before exec (after the uid switch): enter the groups."""
        for group in self.groups:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    def release(self) -> None:
        """Remove the groups and the work directory (the executor has stopped)."""
        for group in self.groups:
            _remove_tree(group)
        if self.work_dir is not None and self.temporary_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)


def prepare(repo: Path, data_dir: Path, env: dict[str, str] | None = None) -> ExecutorIdentity:
    """As root: the user, its groups and work directory, and an interpreter it can run.

    The work directory (jobs, the compile cache, precompiled headers) is <data_dir>/executor,
    kept across restarts and given to the user; a temporary one where the user cannot reach
    data_dir."""
    if os.geteuid() != 0:
        return ExecutorIdentity(reason="the supervisor is not root: the executor runs as it")
    try:
        entry = _ensure_user()
    except (OSError, subprocess.CalledProcessError) as exc:
        return ExecutorIdentity(reason=f"could not make the user {identity.USER}: {exc}")
    found = ExecutorIdentity(uid=entry.pw_uid, gid=entry.pw_gid)
    registry = (env or {}).get("SENTINEL_REGISTRY", "")
    runnable = _interpreter_for(found, repo, registry)
    if runnable is None:
        return ExecutorIdentity(
            reason=f"the user {identity.USER} cannot run the executor from {repo} "
            f"{'with the registry ' + registry + ' ' if registry else ''}"
            "(put the checkout, its virtual environment and the executor's files where other "
            "users can read them); the executor runs as root, its sandboxes as "
            f"{identity.USER}"
        )
    found.python, found.env = runnable
    found.work_dir = data_dir / "executor"
    found.work_dir.mkdir(parents=True, exist_ok=True)
    if not identity.reachable(found.work_dir, entry.pw_uid):
        found.work_dir = Path(tempfile.mkdtemp(prefix="sentinel-executor-"))
        found.temporary_work_dir = True
    _give(found.work_dir, entry.pw_uid, entry.pw_gid)
    sweep_stale()
    try:
        found.groups = _delegate(entry.pw_uid, entry.pw_gid)
    except OSError as exc:
        found.groups = []
        found.cgroup_reason = f"no cgroup v1 group was handed over ({exc})"
    return found


def _give(tree: Path, uid: int, gid: int) -> None:
    """Make `tree` the user's (files an earlier root executor left in it included)."""
    for path in [tree, *tree.rglob("*")]:
        with contextlib.suppress(FileNotFoundError):
            os.chown(path, uid, gid, follow_symlinks=False)


def _ensure_user() -> pwd.struct_passwd:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(identity.USER)
    subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            identity.USER,
        ],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(identity.USER)


def _interpreter_for(
    found: ExecutorIdentity, repo: Path, registry: str
) -> tuple[str, dict[str, str]] | None:
    """This interpreter when the user can run the executor with it (import it and read the
    language registry it will read); else Debian's python3 of the same version with this
    environment's packages on its path; else None."""
    candidates: list[tuple[str, dict[str, str]]] = [(sys.executable, {})]
    system = "/usr/bin/python3"
    if os.path.exists(system) and Path(sys.executable).resolve() != Path(system).resolve():
        paths = os.pathsep.join([sysconfig.get_paths()["purelib"], str(repo)])
        candidates.append((system, {"PYTHONPATH": paths}))
    for python, env in candidates:
        try:
            probe = subprocess.run(
                [python, "-c", _PROBE],
                cwd=repo,
                env={"PATH": "/usr/bin:/bin", "SENTINEL_REGISTRY": registry, **env},
                user=found.uid,
                group=found.gid,
                extra_groups=[],
                capture_output=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and probe.stdout.strip() == str(sys.version_info[:2]).encode():
            return python, env
    return None


_PROBE = """import sys
import functions.app
from functions.languages import load_registry
from functions.settings import ExecutorSettings
load_registry(ExecutorSettings.from_env().registry_path)
print(sys.version_info[:2])"""


def _own_group(controller: str) -> Path | None:
    return cgroups.own_v1_groups().get(controller)


def _delegate(uid: int, gid: int) -> list[Path]:
    """One group per v1 controller under the supervisor's own, given to the user."""
    made: list[Path] = []
    serial = next(_SERIAL)  # one supervisor may start several stacks (the test suite does)
    try:
        for controller in cgroups.CONTROLLERS:
            parent = _own_group(controller)
            if parent is None or not (parent / "cgroup.procs").exists():
                raise OSError(f"no cgroup v1 {controller} hierarchy here")
            group = parent / f"{PREFIX}{os.getpid()}-{serial}"
            group.mkdir()
            made.append(group)
            for path in (group, group / "cgroup.procs", group / "tasks"):
                os.chown(path, uid, gid)
    except OSError:
        for group in made:
            _remove_tree(group)
        raise
    return made


def sweep_stale() -> None:
    """Remove the executor groups of supervisors that are no longer running."""
    for controller in cgroups.CONTROLLERS:
        parent = _own_group(controller)
        if parent is None or not parent.is_dir():
            continue
        for group in parent.glob(f"{PREFIX}*"):
            owner = group.name.removeprefix(PREFIX).split("-")[0]
            if owner.isdigit() and not cgroups.alive(int(owner)):
                _remove_tree(group)


def _remove_tree(group: Path) -> None:
    if group.is_dir():
        with contextlib.suppress(OSError):
            cgroups.remove_tree(group)
