"""Queuing validated submissions: job records and requested events, in one Redis transaction.

Shared by POST /api/execute (one), POST /api/execute/batch (many) and POST /events (one, from a
pipeline). Before queuing, each language's backlog is held against its cap (backpressure): a full
language gets 503 with Retry-After instead of an ever longer queue. The count is the XLEN of the
language's trigger streams, the same number GET /load reports.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eventing import contract, keys
from eventing.broker import publish
from eventing.logs import REQUEST_ID_EXTENSION
from ingress.errors import ApiError
from ingress.metrics import metrics_key
from ingress.services import Services
from ingress.waiting import wait_for_finish


@dataclass(frozen=True)
class Queued:
    """A job that is now in the broker."""

    id: str
    timestamp: str
    language: str


def headroom(services: Services, languages: Counter[str]) -> dict[str, int]:
    """Per language asked for: how many more jobs its backlog takes (a large number if no cap)."""
    prefix = services.settings.eventing.key_prefix
    room: dict[str, int] = {}
    for language in languages:
        cap = services.settings.cap_for(language)
        if cap is None:
            room[language] = 1 << 30
            continue
        depth = services.depths.estimate(language, cap)
        if depth is None:
            streams = [
                keys.trigger_stream(prefix, t.name) for t in services.triggers if t.serves(language)
            ]
            depth = max((int(services.redis.xlen(stream)) for stream in streams), default=0)
            services.depths.observed(language, depth)
        room[language] = max(0, cap - depth)
    return room


def backlog_full(services: Services, language: str) -> ApiError:
    """The 503 for a language whose backlog reached its cap."""
    retry = services.settings.backlog_retry_after_s
    return ApiError(
        503,
        f"the {language} backlog is full ({services.settings.cap_for(language)} jobs waiting); "
        f"retry in {retry}s",
        headers={"Retry-After": str(retry)},
        language=language,
    )


def enqueue(
    services: Services,
    accepted: list[tuple[contract.SubmissionRequest, str]],
    request_id: str,
    source: str = "/sentinel/ingress",
    extra_fields: Sequence[dict[str, str]] | None = None,
    job_ids: Sequence[str] | None = None,
) -> list[Queued]:
    """Write a queued record and publish a requested event per submission, atomically.

    `job_ids` (one per submission) are ids chosen before, e.g. claimed by POST /events for an
    event's source and id; by default each job gets a new uuid4.

    `extra_fields` (one dict per submission) are kept in the job record beside Sentinel's own:
    the compatibility layers keep there what their API echoes back (Judge0's request fields).
    """
    ev = services.settings.eventing
    timestamp = contract.now_iso()
    pipe = services.redis.pipeline(transaction=True)
    queued: list[Queued] = []
    for index, (request, language) in enumerate(accepted):
        job_id = job_ids[index] if job_ids is not None else str(uuid.uuid4())
        # Validated again, on purpose: pydantic's validation of the dump (~20 us) was measured
        # faster than model_construct() of the same fields (~35 us), which only skips checks.
        submission = contract.Submission(
            **request.model_dump(exclude={"language"}), language=language, id=job_id
        )
        event = contract.make_event(
            contract.REQUESTED,
            submission,
            source=source,
            language=language,
            extensions={REQUEST_ID_EXTENSION: request_id},
        )
        fields = {
            "language": language,
            "total": str(len(request.test_cases or []) or 1),
            "requestId": request_id,
        }
        if request.callback_url:
            fields["callbackUrl"] = request.callback_url
        if extra_fields is not None:
            fields.update(extra_fields[index])
        services.store.advance(job_id, "queued", fields, pipe=pipe, timestamp=timestamp)
        publish(pipe, ev.key_prefix, services.triggers, event)
        pipe.hincrby(metrics_key(ev.key_prefix, "submitted"), language, 1)
        queued.append(Queued(job_id, timestamp, language))
    if queued:
        pipe.execute()
        for language, count in Counter(job.language for job in queued).items():
            services.depths.queued(language, count)
    return queued


def submit_one(
    services: Services,
    request: contract.SubmissionRequest,
    language: str,
    request_id: str,
    source: str = "/sentinel/ingress",
    extra_fields: dict[str, str] | None = None,
    job_id: str | None = None,
) -> Queued:
    """Queue one validated submission after checking its language's backlog (503 when full);
    under `job_id` when given (else a new uuid4)."""
    if headroom(services, Counter([language]))[language] < 1:
        raise backlog_full(services, language)
    (job,) = enqueue(
        services,
        [(request, language)],
        request_id,
        source=source,
        extra_fields=None if extra_fields is None else [extra_fields],
        job_ids=None if job_id is None else [job_id],
    )
    return job


def submit_and_wait(
    services: Services,
    request: contract.SubmissionRequest,
    language: str,
    request_id: str,
    timeout_s: float,
    source: str = "/sentinel/ingress",
    extra_fields: dict[str, str] | None = None,
) -> tuple[Queued, dict[str, Any] | None]:
    """submit_one, then the job's finished record within `timeout_s`: (job, record), the record
    None when not finished in time, or when every waiter slot is taken (the caller answers
    without the result rather than hold one more thread).

    The job's done channel is watched from before the job is queued, so the wait needs no read
    of the record before it blocks (ingress/waiting.py): one HGETALL less than waiting after
    queuing, as this did before. The waiter slot is taken first too, held for the enqueue."""
    if not services.waiters.acquire():
        job = submit_one(services, request, language, request_id, source, extra_fields)
        return job, None
    try:
        prefix = services.settings.eventing.key_prefix
        job_id = str(uuid.uuid4())
        with services.listener.watching(keys.job_done(prefix, job_id)) as watch:
            job = submit_one(
                services, request, language, request_id, source, extra_fields, job_id=job_id
            )
            record = wait_for_finish(services.listener, services.store, job_id, timeout_s, watch)
        return job, record
    finally:
        services.waiters.release()
