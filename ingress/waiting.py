"""?wait=true: block a request until its job is finished, or until a bounded time has passed.

No polling: the job store PUBLISHes on the job's `done` channel in the same Lua script that
marks it completed or failed (eventing/store.py). Each ingress process has one listener thread
holding one Redis connection PSUBSCRIBEd to every job's `done` channel (`Listener`). A waiting
request registers its job's channel with the listener *before* queuing the job
(`Listener.watching`: ingress/submissions.py's submit_and_wait, and Piston's execute), then
blocks on an event the listener sets when the notification arrives, and reads the record once.
So waiting costs no connection, SUBSCRIBE or UNSUBSCRIBE of its own, and one HGETALL. (A
connection per waiter, as before, cost a TCP connect, HELLO, SUBSCRIBE and a disconnect per
request, and left the shared pool a dead connection to reopen.)

Registered before queuing while the listener is subscribed, no notification of the job can be
missed. Registered before the subscription is in place, the request reads the record first,
after registering: a notification before that read is not needed, one after it is not missed.
If the listener's connection drops, notifications sent meanwhile are lost, so on reconnecting it
wakes every registered waiter to read its record again.

Each waiter holds a gunicorn thread, so their number per worker is bounded (`Waiters`): past the
bound a request gets its 202 at once rather than starving reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
import structlog

from eventing import keys
from eventing.store import JobStore

FINISHED = ("completed", "failed")
RECONNECT_S = 0.5

log = structlog.get_logger(__name__)


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


@dataclass(frozen=True)
class Watch:
    """A done channel registered with the listener: `woken` is set when it is notified (or the
    listener reconnected); `live` says the subscription was in place once it was registered,
    so that every notification sent since sets `woken` (or a reconnect does)."""

    channel: str
    woken: threading.Event
    live: bool


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class Listener:
    """One PSUBSCRIBEd connection per process that wakes the waiters of finished jobs.

    Started on first use (after gunicorn forked the worker), in a daemon thread.
    """

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._pattern = _glob_escape(keys.job_done(prefix, "")) + "*"
        self._waiting: dict[bytes, threading.Event] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, channel: str) -> threading.Event:
        """An event set when `channel` is notified (or the listener reconnected)."""
        self._start()
        event = threading.Event()
        with self._lock:
            self._waiting[channel.encode()] = event
        return event

    @contextmanager
    def watching(self, channel: str) -> Iterator[Watch]:
        """`channel` registered for the block's duration, as a Watch."""
        woken = self.register(channel)
        try:
            # Read after registering: a subscription seen in place now either delivers every
            # later notification, or drops and, reconnecting, wakes every registered waiter.
            yield Watch(channel, woken, self._subscribed.is_set())
        finally:
            self.forget(channel)

    def forget(self, channel: str) -> None:
        """Stop tracking `channel`."""
        with self._lock:
            self._waiting.pop(channel.encode(), None)

    def ready(self, timeout_s: float) -> bool:
        """Whether the subscription is in place (waiting up to `timeout_s` for it)."""
        return self._subscribed.wait(timeout_s)

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="done-listener", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]
            try:
                pubsub.psubscribe(self._pattern)
                for message in pubsub.listen():
                    kind = message["type"]
                    if kind == "psubscribe":
                        self._subscribed.set()
                        self._wake_all()  # anything sent while we were not listening
                    elif kind == "pmessage":
                        with self._lock:
                            event = self._waiting.get(message["channel"])
                        if event is not None:
                            event.set()
            except (redis.RedisError, OSError, ValueError) as exc:
                log.warning("completion listener reconnecting", error=str(exc))
            finally:
                self._subscribed.clear()
                pubsub.close()
            time.sleep(RECONNECT_S)

    def _wake_all(self) -> None:
        with self._lock:
            events = list(self._waiting.values())
        for event in events:
            event.set()


def wait_for_finish(
    listener: Listener,
    store: JobStore,
    job_id: str,
    timeout_s: float,
    watch: Watch,
) -> dict[str, Any] | None:
    """The finished job's record, or None if it is not finished within `timeout_s`. `watch` is
    the job's done channel, registered by the caller before the job was queued
    (`Listener.watching`), so that no notification of the job can be missed."""
    deadline = time.monotonic() + timeout_s
    record: dict[str, Any] | None = None
    if not watch.live:
        if not listener.ready(timeout_s):
            return None
        record = store.get(job_id)
    while record is None or record.get("status") not in FINISHED:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not watch.woken.wait(remaining):
            return None
        watch.woken.clear()
        if not listener.ready(max(0.0, deadline - time.monotonic())):
            return None
        record = store.get(job_id)
    return record
