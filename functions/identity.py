"""Who a sandbox is on the host: never root.

Why: bubblewrap started by real root maps the sandbox's user to host uid 0; a program could then
write any writable sysctl (/proc/sys/kernel/core_pattern makes the kernel run a command as root)
and read root-only /proc files. Started by an unprivileged uid, the
sandbox's user is that uid, which owns nothing outside and whose writes to kernel knobs fail.

An executor that runs unprivileged (the supervisor's choice on one machine, the image's user in
a container) starts bwrap as itself. One that finds itself root (an operator's choice, or the
test suite calling the runner directly) switches bwrap to the dedicated user `sentinel`, or
`nobody` where that user was never made.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import pwd
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER = "sentinel"
NOBODY = 65534
# util-linux setpriv(1): sets the real, effective and saved ids, clears the groups, then execs.
SETPRIV = "/usr/bin/setpriv"


@dataclass(frozen=True)
class HostIds:
    """The uid and gid bwrap runs as, and whether this process must switch to them."""

    uid: int
    gid: int
    switch: bool


@functools.cache
def sandbox_ids() -> HostIds:
    """The host identity every sandbox of this process runs as (never uid 0). Looked up once
    per process: every run asks, and a passwd lookup is file I/O."""
    if os.geteuid() != 0:
        return HostIds(os.geteuid(), os.getegid(), switch=False)
    try:
        entry = pwd.getpwnam(USER)
        return HostIds(entry.pw_uid, entry.pw_gid, switch=True)
    except KeyError:
        return HostIds(NOBODY, NOBODY, switch=True)


def switch_command() -> list[str]:
    """What goes in front of bwrap's command line so that it starts as the sandbox's host user:
    setpriv(1) when this process is root, nothing otherwise.

    Why not Popen's user=, group= and extra_groups=: with those CPython forks the whole executor
    instead of using vfork, and the fork of a threaded process of 50-70 MB cost its parent 5.4 ms
    of CPU and 11.5 ms of wall time per spawn, against 0.5 and 3.2 ms for vfork and an exec of
    setpriv (measured here, 200 spawns each). setpriv sets the saved ids too, and the exec that
    follows leaves no capability: tests/test_hostile.py looks at every id of every process."""
    ids = sandbox_ids()
    if not ids.switch:
        return []
    return [SETPRIV, f"--reuid={ids.uid}", f"--regid={ids.gid}", "--clear-groups", "--"]


def reachable(path: Path, uid: int | None = None) -> bool:
    """Whether the sandbox's host user (or `uid`) can reach `path` to bind it (a root executor's own
    directories may be private: pytest's, or under /root). Checked by the mode bits of every
    directory on the way, as the kernel would for a user who owns none of them; directories
    still to be made count as reachable (the executor makes them 0755)."""
    ids = sandbox_ids()
    if uid is None and not ids.switch:
        return True
    owner = ids.uid if uid is None else uid
    for directory in [path, *path.parents]:
        try:
            info = directory.stat()
        except FileNotFoundError:
            continue
        except OSError:
            return False
        if info.st_uid != owner and not info.st_mode & stat.S_IXOTH:
            return False
    return True


_LIBC = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def creating_as_sandbox() -> Iterator[None]:
    """Files made inside belong to the sandbox's host user: a root executor takes its uid and gid
    as this thread's filesystem identity (setfsuid(2) is per thread) and gives them back after.

    Why: a fresh sandbox's /box is reached through its own root (functions/sandbox.py), in a user
    namespace where only that user is mapped; the kernel refuses to make a file there for an
    unmapped owner such as root (EOVERFLOW). An unprivileged executor is that user already."""
    ids = sandbox_ids()
    if not ids.switch:
        yield
        return
    _LIBC.setfsgid(ids.gid)
    _LIBC.setfsuid(ids.uid)
    try:
        yield
    finally:
        _LIBC.setfsuid(0)
        _LIBC.setfsgid(0)
