"""?wait=true: block a request until its job is finished, or until a bounded time has passed.

No polling: the job store PUBLISHes on the job's `done` channel in the same Lua script that
marks it completed or failed (eventing/store.py), and the waiter SUBSCRIBEs and blocks on its
socket. The race (the result lands between queuing and subscribing) is closed by reading the
record once *after* subscribing: a notification before that read is not needed, one after it
is not missed.

Each waiter holds a gunicorn thread and a Redis connection, so their number per worker is
bounded (`Waiters`): past the bound a request gets its 202 at once rather than starving reads.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis

from eventing import keys
from eventing.store import JobStore

FINISHED = ("completed", "failed")


class Waiters:
    """A per-process bound on requests waiting at once."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit) if limit > 0 else None

    def acquire(self) -> bool:
        """Take a slot without blocking; False when every slot is taken (or waiting is off)."""
        return self._slots is not None and self._slots.acquire(blocking=False)

    def release(self) -> None:
        """Give the slot back."""
        if self._slots is not None:
            self._slots.release()


def wait_for_finish(
    client: redis.Redis, store: JobStore, prefix: str, job_id: str, timeout_s: float
) -> dict[str, Any] | None:
    """The finished job's record, or None if it is not finished within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    try:
        pubsub.subscribe(keys.job_done(prefix, job_id))
        record = store.get(job_id)
        while record is None or record.get("status") not in FINISHED:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if pubsub.get_message(timeout=remaining) is not None:
                record = store.get(job_id)
        return record
    finally:
        pubsub.close()
