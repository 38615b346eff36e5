"""Every process this executor starts, started under one lock that writing a box's files takes too.

Why: a file open for writing cannot be exec'd (ETXTBSY), and a process forked while this process
holds such a fd has a copy of it until its own exec closes it (O_CLOEXEC closes at exec, not at
fork). A run copies its files into the box, then releases the sandbox, whose program may be exec'd
a fraction of a millisecond later (a waiting shell: functions/prestart.py), while another thread
may be starting the next spare. Seen as `exec: /box/main: Text file busy` in 4 of 90 jobs of
two C, C++ or Go runs each (tests/test_prestart.py has a stress). So a box file is opened,
written and closed under `LOCK`, and nothing forks while it is held (`popen`, `run`).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from typing import Any

LOCK = threading.Lock()


def popen(argv: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    """subprocess.Popen under `LOCK` (it returns once the child has exec'd)."""
    with LOCK:
        return subprocess.Popen(argv, **options)


def run(argv: Sequence[str], *, timeout: float, **options: Any) -> subprocess.CompletedProcess[Any]:
    """subprocess.run(argv, capture_output=True) with only the start under `LOCK`."""
    process = popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)
    with process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
