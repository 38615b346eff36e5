"""Helpers for the sandbox tests: run a program straight through functions.runner, and look at
the host for anything a run left behind."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from eventing.contract import ExecutionResult, Limits, Submission, TestCase
from functions import cgroups, identity, prestart, procfs, rlimits, runner, sandbox
from functions.languages import Language, load_registry, served
from functions.settings import ExecutorSettings

INSTALLED = served(load_registry(), None)
# What can run under this process's /proc mode (functions/procfs.py): under the static stand-in,
# not the languages that need a real procfs (the executor lists them unavailable, as here).
LANGUAGES = {
    name: lang
    for name, lang in INSTALLED.items()
    if procfs.mode() == procfs.PRIVATE or not lang.needs_procfs
}
# Compiles are held to tighter limits here so a compile bomb is stopped in seconds.
SETTINGS = ExecutorSettings(compile_cpu_ms=4000, compile_wall_ms=8000)


def execute(
    language: str,
    code: str,
    stdin: str = "",
    *,
    cases: list[TestCase] | None = None,
    limits: Limits | None = None,
    settings: ExecutorSettings = SETTINGS,
) -> ExecutionResult:
    """Run `code` as the executor would, without HTTP."""
    runnable = language_or_skip(language)
    submission = Submission(
        id=uuid.uuid4().hex,
        code=code,
        language=language,
        input=stdin,
        test_cases=cases,
        limits=limits or Limits(),
    )
    return runner.execute(submission, runnable, settings)


def language_or_skip(name: str) -> Language:
    """The registry's language, or a skip where this /proc mode cannot run it."""
    if name in INSTALLED and name not in LANGUAGES:
        pytest.skip(f"{name} needs a private /proc; this run's is {procfs.mode()}")
    return LANGUAGES[name]


# What a spare's first process may be: bwrap, or a wrapper that execs it (functions/sandbox.py).
_SPARE_PROGRAMS = (sandbox.BWRAP, rlimits.PRLIMIT, identity.SETPRIV)


def leftovers() -> list[str]:
    """Processes still inside a run's group of this test process, spare sandboxes aside
    (a spare is a bwrap blocked on its --args, not yet released, or the setpriv(1) or
    prlimit(1) about to become one, or a prestarted python or shell still waiting for its
    release: functions/prestart.py)."""
    where = sandbox.delegation()
    if where is None:
        return []
    # the v1 pids hierarchy (every task is listed there), or the one v2 group
    parent = where.parents.get("pids") or where.parents[cgroups.UNIFIED]
    groups = list(parent.glob(f"sentinel-{os.getpid()}-*/cgroup.procs"))
    found = []
    for procs in groups:
        try:
            pids = procs.read_text().split()
        except OSError:
            continue  # the group was removed while we looked
        for pid in pids:
            cmdline = _cmdline(pid)
            if cmdline is None:
                continue
            # A spare may be caught before setpriv(1) or prlimit(1) has exec'd bwrap.
            program = cmdline[0].decode(errors="replace")
            spare = program in _SPARE_PROGRAMS and b"--args" in cmdline
            if not spare and not _waiting_launcher(pid, cmdline):
                found.append(b" ".join(cmdline).decode(errors="replace"))
    return found


def _waiting_launcher(pid: str, cmdline: list[bytes]) -> bool:
    """Whether `pid` is a prestarted interpreter or shell not yet released: the launcher's command
    line and its release pipe (which it closes on the release's byte) still open, or the shell
    waiter's (the exec that follows its SIGCONT replaces it)."""
    python = [prestart.PYTHON.encode(), b"-c", prestart.LAUNCHER.encode()]
    shell = [prestart.SHELL.encode(), b"-c", prestart.WAITER.encode(), b"sh"]
    try:
        if cmdline[:3] == python and len(cmdline) > 3:
            return os.readlink(f"/proc/{pid}/fd/{int(cmdline[3])}").startswith("pipe:")
        if cmdline[:4] == shell:  # stopped, or about to stop: its exec would change it
            return True
    except (OSError, ValueError, IndexError):
        return False
    return False


def host_processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _cmdline(pid: str) -> list[bytes] | None:
    """A process's command line; None once it is gone. A process in the middle of an execve
    (a spare going from prlimit(1) to bwrap) or exiting shows an empty one for a moment:
    read again, and a zombie counts as gone."""
    for _ in range(40):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            if raw:
                return raw.split(b"\0")
            state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
        except (OSError, IndexError):
            return None
        if state in ("Z", "X"):
            return None
        time.sleep(0.005)
    return [b"<no command line>"]
