"""Backlogs: a trigger stream's waiting and active entries (GET /load, Judge0's /workers), and
recent depths per process, so a submission far under its language's cap skips the XLEN
(ingress/submissions.py's headroom)."""

from __future__ import annotations

import threading
import time

import redis

from eventing import keys

# A backlog depth read less than this long ago, plus what this process queued since, stands in
# for a new XLEN while it is under half the cap (see Depths).
DEPTH_FRESH_S = 0.2


class Depths:
    """Recent backlog depths per language, so a submission far under its cap skips the XLEN.

    The check was never atomic with the enqueue (two requests may both see room for one), so
    the cap is a bound within what concurrent submitters add meanwhile; this keeps it so: a
    depth is reused only for DEPTH_FRESH_S and only while it, plus this process's own
    submissions since, is under half the cap. Near the cap every submission reads XLEN.
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def estimate(self, language: str, cap: int) -> int | None:
        """A safe stand-in for the depth, or None when XLEN must be read."""
        with self._lock:
            seen = self._seen.get(language)
        if seen is None or time.monotonic() - seen[0] > DEPTH_FRESH_S or seen[1] * 2 >= cap:
            return None
        return seen[1]

    def observed(self, language: str, depth: int) -> None:
        """A depth just read with XLEN."""
        with self._lock:
            self._seen[language] = (time.monotonic(), depth)

    def queued(self, language: str, count: int) -> None:
        """`count` more jobs queued by this process."""
        with self._lock:
            seen = self._seen.get(language)
            if seen is not None:
                self._seen[language] = (seen[0], seen[1] + count)


def backlog(client: redis.Redis, stream: str) -> tuple[int, int]:
    """(waiting, active) of one trigger's stream. Delivered entries are deleted, so the stream
    holds exactly the unread entries and the pending ones; both are read in one transaction."""
    pipe = client.pipeline(transaction=True)
    pipe.xlen(stream)
    pipe.xpending(stream, keys.CONSUMER_GROUP)
    length, pending = pipe.execute(raise_on_error=False)
    if isinstance(length, Exception):
        raise length
    # No consumer group yet (no dispatcher has started): nothing has been read.
    active = 0 if isinstance(pending, Exception) else int(pending["pending"])
    return max(0, int(length) - active), active
