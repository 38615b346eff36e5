"""The job store: one Redis hash per job, moved only forward (queued → running → done).

Every change goes through one Lua script that compares ranks, so a redelivered or late event
(a `started` arriving after `completed`) changes nothing: consumers can be at-least-once and the
store stays exact. Records expire after the retention period.

The per-language counters of GET /load (totalJobs, completed, failed) are bumped by the same
script, in the same atomic step as the move: a job is counted when its record is created and
when it reaches a final status, and since a redelivery does not move it, it is never counted
twice. (The script derives the counter key from the prefix and the job's language, so it assumes
one Redis, not a Cluster.)

When a job reaches completed or failed, the same script PUBLISHes on the job's `done` channel,
so a waiting request (ingress/waiting.py) wakes without polling.
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis
from redis.client import Pipeline

from eventing import keys
from eventing.contract import now_iso

# KEYS[1] the job; ARGV: new status, ttl, job id, timestamp, stats key prefix, then field pairs.
_ADVANCE = """
local rank = {queued=1, running=2, completed=3, failed=3}
local new = ARGV[1]
local current = redis.call('HGET', KEYS[1], 'status')
if current and rank[current] >= rank[new] then return 0 end
redis.call('HSETNX', KEYS[1], 'id', ARGV[3])
redis.call('HSETNX', KEYS[1], 'timestamp', ARGV[4])
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'status', new, 'updatedAt', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local language = redis.call('HGET', KEYS[1], 'language') or 'unknown'
local stats = ARGV[5] .. language
if not current then redis.call('HINCRBY', stats, 'totalJobs', 1) end
if rank[new] == 3 then redis.call('HINCRBY', stats, new, 1) end
-- completion notification (ingress/waiting.py): tell ?wait=true requests the job is done
if rank[new] == 3 then redis.call('PUBLISH', KEYS[2], new) end
return 1
"""


class JobStore:
    """Reads and forward-only writes of job records."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._advance = client.register_script(_ADVANCE)

    def advance(
        self,
        job_id: str,
        status: str,
        fields: dict[str, str] | None = None,
        pipe: Pipeline | None = None,
        timestamp: str | None = None,
    ) -> bool:
        """Move the job to `status` with `fields` if that is forward; True when it moved.

        With `pipe`, the write is queued on it and the return value means nothing.
        """
        args: list[str] = [
            status,
            str(self._ttl),
            job_id,
            timestamp or now_iso(),
            keys.stats_prefix(self._prefix),
        ]
        for name, value in (fields or {}).items():
            args += [name, value]
        script_keys = [keys.job(self._prefix, job_id), keys.job_done(self._prefix, job_id)]
        if pipe is not None:
            # EVAL, not the Script object: in a pipeline redis-py sends SCRIPT EXISTS first (one
            # more round trip per transaction); EVAL of a cached body costs Redis a SHA1 only.
            pipe.eval(_ADVANCE, len(script_keys), *script_keys, *args)
            return True
        return bool(self._advance(keys=script_keys, args=args))

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The record as a dict, with `result` decoded; None for an unknown or expired id."""
        raw = cast(dict[bytes, bytes], self._redis.hgetall(keys.job(self._prefix, job_id)))
        if not raw:
            return None
        record: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
        if "result" in record:
            record["result"] = json.loads(record["result"])
        return record

    def counters(self, language: str) -> dict[str, int]:
        """The language's totalJobs, completed and failed counters (zero when never counted)."""
        raw = cast(dict[bytes, bytes], self._redis.hgetall(keys.stats(self._prefix, language)))
        counted = {k.decode(): int(v) for k, v in raw.items()}
        return {name: counted.get(name, 0) for name in ("totalJobs", "completed", "failed")}
