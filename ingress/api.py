"""The public API's routes: submit (one, a batch, or a CloudEvent), read back, wait, health,
load, languages, the OpenAPI document and metrics.

Response shapes are the seed's (docs/api.md): camelCase, times in ms, memory in KB, each built
through its model in ingress/shapes.py (the job itself by eventing/jobview.py). Errors are
raised as ApiError and answered as JSON by ingress/app.py; rate limits, API keys and request ids
are applied there too, before any route runs.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from typing import Any, cast

import redis
from flask import Blueprint, Response, g, jsonify, request

from eventing import contract, keys
from eventing.jobview import job_view
from ingress import health as health_report
from ingress import metrics, openapi, shapes, submissions, validation
from ingress.backlog import backlog
from ingress.errors import ApiError
from ingress.services import Services, spend
from ingress.services import services as _services

api = Blueprint("api", __name__)

TRUE = ("true", "1", "yes")
FALSE = ("false", "0", "no", "")


def _queued_body(job: submissions.Queued) -> dict[str, Any]:
    return shapes.Queued(
        id=job.id,
        status="queued",
        timestamp=job.timestamp,
        message=f"Job queued on {health_report.container_id(job.language)}",
    ).wire()


def _wait_seconds() -> float | None:
    """The `wait` and `timeout` query parameters: seconds to wait, or None for no waiting."""
    settings = _services().settings
    wait = request.args.get("wait", "").strip().lower()
    if wait not in TRUE + FALSE:
        raise ApiError(400, "wait: must be true or false", field="wait")
    raw = request.args.get("timeout")
    if raw is None:
        timeout = settings.wait_default_s
    else:
        try:
            timeout = float(raw)
        except ValueError:
            raise ApiError(400, "timeout: must be a number of seconds", field="timeout") from None
        if not 0 < timeout <= settings.wait_max_s:
            raise ApiError(
                400,
                f"timeout: must be more than 0 and at most {settings.wait_max_s:g} seconds",
                field="timeout",
            )
    return min(timeout, settings.wait_max_s) if wait in TRUE else None


@api.post("/execute")
@api.post("/api/execute")
def execute() -> tuple[Response, int]:
    """Accept a submission; with ?wait=true, answer its result if it finishes in time."""
    services = _services()
    spend("submit")
    wait_s = _wait_seconds()
    body = validation.json_object(request.get_data())
    submitted, language = validation.submission(body, services.settings, services.catalog)
    if wait_s is None:
        job = submissions.submit_one(services, submitted, language, g.request_id)
    else:
        job, record = submissions.submit_and_wait(
            services, submitted, language, g.request_id, wait_s
        )
        if record is not None:
            return jsonify(job_view(record)), 200
    return jsonify(_queued_body(job)), 202


@api.post("/api/execute/batch")
def execute_batch() -> tuple[Response, int]:
    """Accept up to `max_batch` submissions at once: one entry per item, a job id or an error."""
    services = _services()
    settings = services.settings
    body = validation.json_object(request.get_data())
    items = body.get("submissions")
    extra = sorted(set(body) - {"submissions"})
    if extra:
        raise ApiError(400, f"{extra[0]}: unknown field", field=extra[0])
    if not isinstance(items, list) or not items:
        raise ApiError(400, "submissions: a non-empty list is required", field="submissions")
    if len(items) > settings.max_batch:
        raise ApiError(
            400,
            f"submissions: at most {settings.max_batch} per batch",
            field="submissions",
            limit=settings.max_batch,
        )
    spend("submit", len(items))
    results: list[dict[str, Any] | None] = [None] * len(items)
    accepted: list[tuple[int, contract.SubmissionRequest, str]] = []
    for index, item in enumerate(items):
        try:
            submitted, language = validation.submission(
                item, settings, services.catalog, prefix=f"submissions.{index}."
            )
        except ApiError as exc:
            results[index] = {
                "index": index,
                "status": "rejected",
                "code": exc.status,
                **exc.body(),
            }
            continue
        accepted.append((index, submitted, language))
    room = submissions.headroom(services, Counter(language for _, _, language in accepted))
    admitted: list[tuple[int, contract.SubmissionRequest, str]] = []
    for index, submitted, language in accepted:
        if room[language] < 1:
            full = submissions.backlog_full(services, language)
            results[index] = {"index": index, "status": "rejected", "code": 503, **full.body()}
            continue
        room[language] -= 1
        admitted.append((index, submitted, language))
    queued = submissions.enqueue(services, [(s, lang) for _, s, lang in admitted], g.request_id)
    for (index, _, _), job in zip(admitted, queued, strict=True):
        results[index] = {"index": index, **_queued_body(job)}
    answer = shapes.BatchAnswer.model_validate(
        {"jobs": results, "queued": len(queued), "rejected": len(items) - len(queued)}
    )
    if not queued:
        refused = answer.model_copy(update={"error": "no submission in the batch was queued"})
        return jsonify(refused.wire()), 400
    return jsonify(answer.wire()), 202


@api.post("/events")
def events() -> tuple[Response, int]:
    """Take a `dev.sentinel.execution.requested` CloudEvent (binary or structured) from a
    pipeline; its data is a submission as for POST /api/execute. Redelivery of the same event
    (same source and id) answers the job already made for it."""
    services = _services()
    spend("submit")
    try:
        event = contract.from_http(dict(request.headers), request.get_data())
    except contract.ContractError as exc:
        raise ApiError(400, str(exc)) from None
    if event.get_type() != contract.REQUESTED:
        raise ApiError(400, f"type: this endpoint takes {contract.REQUESTED} events", field="type")
    data = event.get_data()
    submitted, language = validation.submission(
        data, services.settings, services.catalog, prefix="data."
    )
    requester = event.get_extension("requestid")
    request_id = requester if isinstance(requester, str) and requester else g.request_id
    prefix = services.settings.eventing.key_prefix
    digest = hashlib.sha256(f"{event.get_source()}\0{event.get_id()}".encode()).hexdigest()
    seen_key = f"{prefix}:event-seen:{digest}"
    # Claim the event's job id first (SET NX: one of any number of concurrent deliveries of
    # the event wins), then queue under that id; the others answer the winner's job.
    job_id = str(uuid.uuid4())
    ttl = services.settings.eventing.job_ttl_seconds
    if not services.redis.set(seen_key, job_id, nx=True, ex=ttl):
        seen = cast(bytes | None, services.redis.get(seen_key))
        if seen is not None:
            return _seen_before(services, seen.decode())
        services.redis.set(seen_key, job_id, ex=ttl)  # the claim expired meanwhile
    try:
        if submissions.headroom(services, Counter([language]))[language] < 1:
            raise submissions.backlog_full(services, language)
        (job,) = submissions.enqueue(
            services,
            [(submitted, language)],
            request_id,
            source="/sentinel/ingress/events",
            job_ids=[job_id],
        )
    except BaseException:
        services.redis.delete(seen_key)  # nothing was queued: a redelivery may try again
        raise
    return jsonify(_queued_body(job)), 202


def _seen_before(services: Services, job_id: str) -> tuple[Response, int]:
    """The answer to a redelivered event: the job made for it (still being queued, when the
    first delivery is a moment ahead)."""
    record = services.store.get(job_id) or {
        "id": job_id,
        "status": "queued",
        "timestamp": contract.now_iso(),
    }
    return jsonify(
        shapes.Queued(
            id=record["id"],
            status=record["status"],
            timestamp=record["timestamp"],
            message="This event was received before; this is its job.",
        ).wire()
    ), 202


@api.get("/job/<job_id>")
@api.get("/api/result/<job_id>")
def job(job_id: str) -> Response:
    """The job as the seed shows it: id, status, timestamp, and the result once there is one."""
    record = _services().store.get(job_id)
    if record is None:
        raise ApiError(404, f"no job {job_id!r} (unknown, or expired)")
    return jsonify(job_view(record))


@api.get("/api/status/<job_id>")
def status(job_id: str) -> Response:
    """Only the job's life: status, timestamps, progress, and the verdict once done."""
    record = _services().store.get(job_id)
    if record is None:
        raise ApiError(404, f"no job {job_id!r} (unknown, or expired)")
    view = shapes.Status(
        id=record["id"],
        status=record["status"],
        timestamp=record["timestamp"],
        updated_at=record.get("updatedAt"),
        verdict=record.get("verdict"),
        progress=progress(record),
    )
    return jsonify(view.wire())


def progress(record: dict[str, Any]) -> shapes.Progress:
    """Test cases run of those submitted. The executor reports once, at the end, so this is 0
    until the job is finished; then the cases it ran (fewer with stopOnFirstFailure)."""
    total = int(record.get("total") or 1)
    result = record.get("result")
    if record.get("status") != "completed" or not isinstance(result, dict):
        return shapes.Progress(completed=0, total=total)
    cases = result.get("testCases")
    done = len(cases) if isinstance(cases, list) else total
    return shapes.Progress(completed=done, total=total)


@api.get("/health")
def health() -> tuple[Response, int]:
    """The seed's health document (status, timestamp, redis, queues) and, beside it, Redis, the
    dispatcher's heartbeat and every subscriber as last probed (ingress/health.py)."""
    services = _services()
    body, healthy = health_report.report(
        services.redis,
        services.settings.eventing.key_prefix,
        services.prober,
        services.catalog.routes,
        services.settings.supervisor_state,
    )
    return jsonify(shapes.Health.model_validate(body).wire()), 200 if healthy else 503


# --- shallow probes for Kubernetes (docs/deploy-knative.md, "Probes") ------------------------
# /health is the deep check for people: it asks every subscriber through Knative, which would
# wake every executor scaled to zero if a probe called it every few seconds. These two touch
# nothing but this process and Redis.


@api.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers. No dependency, so a Redis outage never restarts the pod."""
    return jsonify(shapes.Probe(status="ok").wire())


@api.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready: Redis (the job store and the broker) answers; without it every request fails."""
    try:
        _services().redis.ping()
    except redis.RedisError as exc:
        return jsonify(shapes.Probe(status="unavailable", error=str(exc)).wire()), 503
    return jsonify(shapes.Probe(status="ok").wire()), 200


# --- end of shallow probes ---------------------------------------------------------------------


@api.get("/load")
def load() -> Response:
    """The seed's load document (timestamp, totalWaiting, totalActive, one `containers` entry
    per language's executor) and, beside it, the same numbers by language and in total:
    waiting (in its backlog, not yet read by a dispatcher), active (read, being delivered:
    pending in the consumer group), and the job counters the job store keeps exactly once per
    job (totalJobs, completed, failed)."""
    services = _services()
    prefix = services.settings.eventing.key_prefix
    languages: dict[str, dict[str, int]] = {}
    for trigger in services.triggers:
        if not trigger.serves():
            continue
        language = str(trigger.language)
        waiting, active = backlog(services.redis, keys.trigger_stream(prefix, trigger.name))
        entry = languages.setdefault(
            language, {"waiting": 0, "active": 0, **services.store.counters(language)}
        )
        entry["waiting"] += waiting
        entry["active"] += active
    fields = ("waiting", "active", "completed", "failed", "totalJobs")
    totals = {name: sum(v[name] for v in languages.values()) for name in fields}
    containers = [
        {"containerId": health_report.container_id(language), "language": language, **counts}
        for language, counts in sorted(languages.items())
    ]
    load = shapes.Load(
        timestamp=contract.now_iso(),
        total_waiting=totals["waiting"],
        total_active=totals["active"],
        containers=[shapes.Container.model_validate(entry) for entry in containers],
        languages={name: shapes.Counts.model_validate(c) for name, c in languages.items()},
        totals=shapes.Counts.model_validate(totals),
    )
    return jsonify(load.wire())


@api.get("/languages")
@api.get("/api/languages")
def languages() -> Response:
    """The languages offered, with what their executors report (version and all)."""
    described = [shapes.LanguageEntry.model_validate(e) for e in _services().catalog.describe()]
    return jsonify(shapes.Languages(languages=described, count=len(described)).wire())


@api.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3.1 description of this API."""
    services = _services()
    names = sorted(
        {alias for entry in services.catalog.describe() for alias in entry.get("aliases", [])}
        | set(services.catalog.names())
    )
    return jsonify(openapi.document(services.settings, names, services.catalog.limits().maxima()))


@api.get("/metrics")
def metrics_text() -> Response:
    """Prometheus text exposition, computed from Redis at scrape time."""
    services = _services()
    body = metrics.exposition(
        services.redis, services.settings.eventing.key_prefix, services.triggers
    )
    return Response(body, mimetype="text/plain", content_type=metrics.CONTENT_TYPE)
