"""In limits mode "rlimit" the executor is a child subreaper, so that each sandbox's pid 1 comes
back to it when the outer bwrap exits, and its rusage with it: the only record of the program's
own peak memory and CPU time there is (no cgroup keeps one in that mode).

Why: bwrap's outer process learns the program's exit code from its pid 1 over an eventfd and
exits without waiting for it, so wait4() on bwrap gives bwrap's own figures only (measured: a
Python program holding 100 MB showed 76 MB, the watch's last sample; for an executor that is not
root it shows the executor's own size, the memory of the process bwrap was spawned from). The
pid 1 reaps the program and everything else in the namespace, so its rusage (ru_maxrss,
ru_utime, ru_stime) covers the whole run. With PR_SET_CHILD_SUBREAPER that pid 1, orphaned by the
outer bwrap, is reparented to this process (before bwrap can be reaped), and `reap` waits for
it. bwrap names it in its --json-status-fd ("child-pid"), functions/sandbox.py reads it there.

The cost of being a subreaper: any other orphan below this process comes to it too and is left a
zombie until it exits (the executor starts nothing else that leaves orphans).
"""

from __future__ import annotations

import ctypes
import os
import resource
import threading

_PR_SET_CHILD_SUBREAPER = 36
_enabled: list[bool] = []
_lock = threading.Lock()


def enable() -> bool:
    """Make this process a child subreaper (once); whether it is one."""
    with _lock:
        if not _enabled:
            libc = ctypes.CDLL(None, use_errno=True)
            _enabled.append(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
        return _enabled[0]


def reap(pid: int) -> resource.struct_rusage | None:
    """Wait for the sandbox's pid 1 `pid` (it ends with its outer bwrap) and return its rusage;
    None when it is not this process's child (not a subreaper, or already reaped)."""
    try:
        _, _, usage = os.wait4(pid, 0)
    except ChildProcessError:
        return None
    return usage
