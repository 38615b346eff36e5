"""The public API's routes: submit, read back, health, load and languages.

Response shapes are the seed's (DESIGN.md): camelCase, times in ms, memory in KB.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, cast

import redis
import requests
from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import ValidationError

from eventing import contract, keys
from eventing.broker import publish
from ingress.app import Services

api = Blueprint("api", __name__)


def _services() -> Services:
    return cast(Services, current_app.extensions["sentinel"])


def _error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify(error=message, **extra), status


@api.post("/execute")
@api.post("/api/execute")
def execute() -> tuple[Response, int]:
    """Accept a submission: write the job record (queued) and publish the requested event."""
    services = _services()
    try:
        body = json.loads(request.get_data() or b"null")
    except (ValueError, UnicodeDecodeError):
        return _error(400, "the body must be JSON")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    try:
        submitted = contract.SubmissionRequest.model_validate(body)
    except ValidationError as exc:
        return _validation_error(exc)
    language = services.catalog.resolve(submitted.language)
    if language is None:
        return _error(
            400,
            f"language {submitted.language!r} is not supported",
            field="language",
            supported=services.catalog.names(),
        )
    job_id = str(uuid.uuid4())
    submission = contract.Submission(
        **submitted.model_dump(exclude={"language"}), language=language, id=job_id
    )
    event = contract.make_event(
        contract.REQUESTED, submission, source="/sentinel/ingress", language=language
    )
    timestamp = contract.now_iso()
    ev = services.settings.eventing
    pipe = services.redis.pipeline(transaction=True)
    services.store.advance(job_id, "queued", {"language": language}, pipe=pipe, timestamp=timestamp)
    publish(pipe, ev.key_prefix, services.triggers, event)
    pipe.execute()
    return jsonify(
        id=job_id,
        status="queued",
        timestamp=timestamp,
        message="Job queued. Poll /job/{id} for the result.".replace("{id}", job_id),
    ), 202


@api.get("/job/<job_id>")
@api.get("/api/result/<job_id>")
def job(job_id: str) -> Response | tuple[Response, int]:
    """The job as the seed shows it: id, status, timestamp, and the result once there is one."""
    record = _services().store.get(job_id)
    if record is None:
        return _error(404, f"no job {job_id!r} (unknown, or expired)")
    return jsonify(_job_view(record))


@api.get("/api/status/<job_id>")
def status(job_id: str) -> Response | tuple[Response, int]:
    """Only the job's life: status, timestamps, and the verdict once done."""
    record = _services().store.get(job_id)
    if record is None:
        return _error(404, f"no job {job_id!r} (unknown, or expired)")
    view: dict[str, Any] = {
        k: record[k] for k in ("id", "status", "timestamp", "updatedAt") if k in record
    }
    if "verdict" in record:
        view["verdict"] = record["verdict"]
    return jsonify(view)


@api.get("/health")
def health() -> tuple[Response, int]:
    """Redis, the dispatcher (by its heartbeat) and every subscriber's own /health."""
    services = _services()
    checks: dict[str, Any] = {}
    try:
        services.redis.ping()
        checks["redis"] = {"status": "ok"}
        beat = services.redis.get(
            keys.heartbeat(services.settings.eventing.key_prefix, "dispatcher")
        )
        checks["dispatcher"] = {"status": "ok" if beat else "down"}
    except redis.RedisError as exc:
        checks["redis"] = {"status": "down", "error": str(exc)}
        checks["dispatcher"] = {"status": "unknown"}
    for trigger in services.triggers:
        base = trigger.subscriber.rstrip("/")
        if base in checks:
            continue
        try:
            answer = requests.get(f"{base}/health", timeout=2)
            checks[base] = {"status": "ok" if answer.ok else "down", "code": answer.status_code}
        except requests.RequestException as exc:
            checks[base] = {"status": "down", "error": type(exc).__name__}
    healthy = all(c["status"] == "ok" for c in checks.values())
    return jsonify(status="ok" if healthy else "degraded", services=checks), (
        200 if healthy else 503
    )


@api.get("/load")
def load() -> Response:
    """Per language and in total: waiting (in its backlog, not yet read by a dispatcher), active
    (read, being delivered: pending in the consumer group), and the job counters the job store
    keeps exactly once per job (totalJobs, completed, failed)."""
    services = _services()
    prefix = services.settings.eventing.key_prefix
    languages: dict[str, dict[str, int]] = {}
    for trigger in services.triggers:
        if trigger.language and trigger.filters.get("type") == contract.REQUESTED:
            waiting, active = _backlog(services.redis, keys.trigger_stream(prefix, trigger.name))
            entry = languages.setdefault(
                trigger.language,
                {"waiting": 0, "active": 0, **services.store.counters(trigger.language)},
            )
            entry["waiting"] += waiting
            entry["active"] += active
    fields = ("waiting", "active", "completed", "failed", "totalJobs")
    totals = {name: sum(v[name] for v in languages.values()) for name in fields}
    return jsonify(languages=languages, totals=totals)


def _backlog(client: redis.Redis, stream: str) -> tuple[int, int]:
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


@api.get("/languages")
@api.get("/api/languages")
def languages() -> Response:
    """The languages offered, with what their executors report (version and all)."""
    described = _services().catalog.describe()
    return jsonify(languages=described, count=len(described))


def _job_view(record: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": record["id"],
        "status": record["status"],
        "timestamp": record["timestamp"],
    }
    result = record.get("result")
    if isinstance(result, dict):
        view.update({k: v for k, v in result.items() if k not in ("id", "schemaVersion")})
    if record["status"] == "failed":
        view["error"] = record.get("reason", "the service could not run this job")
    return view


def _validation_error(exc: ValidationError) -> tuple[Response, int]:
    details = [
        {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]
    first = details[0]
    return _error(
        400, f"{first['field']}: {first['message']}", field=first["field"], details=details
    )
