"""The result sink: a CloudEvents subscriber that persists job outcomes into the job store.

It takes started, completed and failed events (routed to it by triggers) and moves the job
record forward. Because the store only moves forward, a redelivered event is answered 200 and
changes nothing. When Redis is unreachable it answers 503, so the dispatcher retries.
"""

from __future__ import annotations

import json

import redis
import structlog
from flask import Flask, Response, jsonify, request

from eventing import contract
from eventing.health import redis_health
from eventing.settings import EventingSettings, SinkSettings
from eventing.store import JobStore
from eventing.wsgi import serve

log = structlog.get_logger(__name__)


def create_app(settings: EventingSettings | None = None) -> Flask:
    """Build the sink app for `settings` (default: from the environment)."""
    settings = settings or EventingSettings.from_env()
    client = settings.redis_client()
    store = JobStore(client, settings.key_prefix, settings.job_ttl_seconds)
    app = Flask(__name__)

    @app.post("/")
    def receive() -> Response | tuple[Response, int]:
        try:
            event = contract.from_http(dict(request.headers), request.get_data())
            payload = contract.payload_of(event)
        except contract.ContractError as exc:
            return jsonify(error=str(exc)), 400
        try:
            if isinstance(payload, contract.ExecutionResult):
                payload = contract.bounded(payload, settings.max_result_bytes)
            moved = _persist(store, payload)
        except redis.RedisError as exc:
            log.warning("job store unavailable", error=str(exc))
            return jsonify(error="job store unavailable"), 503
        log.info("persisted", job=event.get_subject(), type=event.get_type(), moved=moved)
        return Response(status=204)

    app.register_blueprint(redis_health(client))
    return app


def _persist(store: JobStore, payload: object) -> bool:
    """Apply one event to the store; False when it was old news (redelivery, late start)."""
    if isinstance(payload, contract.Started):
        return store.advance(
            payload.id, "running", {"startedAt": payload.started_at, "executor": payload.executor}
        )
    if isinstance(payload, contract.ExecutionResult):
        return store.advance(
            payload.id,
            "completed",
            {
                "result": json.dumps(payload.wire()),
                "verdict": payload.verdict,
                "language": payload.language,
            },
        )
    if isinstance(payload, contract.Failed):
        return store.advance(payload.id, "failed", {"reason": payload.reason})
    raise contract.ContractError("the sink takes started, completed and failed events")


if __name__ == "__main__":
    own = SinkSettings.from_env()
    serve("eventing.sink:create_app()", own.port, threads=own.threads, service="sink")
