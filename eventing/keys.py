"""Redis key names, built in one place from the prefix (as RQ does with `rq:job:<id>`).

Every key the eventing services touch is listed here; docs/broker.md says who writes and who
reads each, and how it stays bounded.
"""

from __future__ import annotations


def job(prefix: str, job_id: str) -> str:
    """The hash holding one job's record (expires after the retention, SENTINEL_JOB_TTL_SECONDS)."""
    return f"{prefix}:job:{job_id}"


def job_done(prefix: str, job_id: str) -> str:
    """The pub/sub channel told (by the job store) when a job is completed or failed."""
    return f"{prefix}:job-done:{job_id}"


def trigger_stream(prefix: str, trigger: str) -> str:
    """The stream that is one trigger's backlog: entries leave it once delivered."""
    return f"{prefix}:trigger:{trigger}"


def stats(prefix: str, language: str) -> str:
    """A hash of one language's job counters (totalJobs, completed, failed), written only by the
    job store's Lua script, in the same step as the job's forward move."""
    return f"{prefix}:stats:{language}"


def stats_prefix(prefix: str) -> str:
    """What every `stats` key starts with (the job store's Lua script builds them from it)."""
    return f"{prefix}:stats:"


def heartbeat(prefix: str, component: str) -> str:
    """A key with a short TTL that a running component renews (read by /health)."""
    return f"{prefix}:heartbeat:{component}"


CONSUMER_GROUP = "dispatch"
