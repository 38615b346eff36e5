"""Redis key names, built in one place from the prefix (as RQ does with `rq:job:<id>`)."""

from __future__ import annotations


def job(prefix: str, job_id: str) -> str:
    """The hash holding one job's record."""
    return f"{prefix}:job:{job_id}"


def job_done(prefix: str, job_id: str) -> str:
    """The pub/sub channel told (by the job store) when a job is completed or failed."""
    return f"{prefix}:job-done:{job_id}"


def trigger_stream(prefix: str, trigger: str) -> str:
    """The stream that is one trigger's backlog: entries leave it once delivered."""
    return f"{prefix}:trigger:{trigger}"


def heartbeat(prefix: str, component: str) -> str:
    """A key with a short TTL that a running component renews (read by /health)."""
    return f"{prefix}:heartbeat:{component}"


CONSUMER_GROUP = "dispatch"
