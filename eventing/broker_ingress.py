"""The broker's ingress: an HTTP endpoint that takes CloudEvents and publishes them onto the broker.

Knative's Broker has one address events are POSTed to; this is Sentinel's. Executors publish
their `execution.started` events here (they find it in K_SINK, as a Knative SinkBinding would
inject it), and outside pipelines publish `execution.requested` events here instead of calling
the public API.

Events are checked against the contract at this edge (binary or structured mode, a known type,
a valid payload, `subject` equal to the job id) and refused with 400 and a message otherwise. A
requested event also needs a `language` extension equal to its payload's language, one the
broker routes; it creates the job record (queued) and is published in the same transaction, so
GET /job/{id} knows the job from the moment the event is accepted. A requested event for a job
id that already exists is acknowledged and not published again: a pipeline that retries its POST
does not run the job twice.

Answers: 202 accepted (with the triggers it went to), 400 the sender's fault, 503 Redis down.
"""

from __future__ import annotations

import re
from typing import Any

import redis
import structlog
from cloudevents.core.base import BaseCloudEvent
from flask import Flask, Response, jsonify, request

from eventing import contract, keys
from eventing.broker import publish
from eventing.health import redis_health
from eventing.settings import BrokerIngressSettings, EventingSettings
from eventing.store import JobStore
from eventing.triggers import Trigger, languages, load_triggers
from eventing.wsgi import serve

log = structlog.get_logger(__name__)

MAX_EVENT_BYTES = 4 * 1024 * 1024
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class Refused(ValueError):
    """An event the broker will not take; the message says why (answered 400)."""


def create_app(settings: EventingSettings | None = None) -> Flask:
    """Build the broker ingress for `settings` (default: from the environment)."""
    settings = settings or EventingSettings.from_env()
    client = settings.redis_client()
    triggers = load_triggers(settings.triggers_path, settings.service_urls, settings.namespace)
    store = JobStore(client, settings.key_prefix, settings.job_ttl_seconds)
    routed = languages(triggers, contract.REQUESTED)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_EVENT_BYTES

    @app.post("/")
    @app.post("/<namespace>/<broker>")  # Knative's broker ingress path, for drop-in senders
    def receive(**_: str) -> tuple[Response, int]:
        try:
            event = _event(dict(request.headers), request.get_data(), routed)
        except (Refused, contract.ContractError) as exc:
            return jsonify(error=str(exc)), 400
        try:
            matched, published = _publish(client, store, settings.key_prefix, triggers, event)
        except redis.RedisError as exc:
            log.warning("redis unavailable", error=str(exc))
            return jsonify(error="the broker is unavailable"), 503
        log.info(
            "accepted",
            type=event.get_type(),
            job=event.get_subject(),
            triggers=matched,
            duplicate=not published,
        )
        answer: dict[str, Any] = {"id": event.get_id(), "subject": event.get_subject()}
        answer["triggers"] = matched if published else []
        if not published:
            answer["duplicate"] = True
        return jsonify(answer), 202

    app.register_blueprint(redis_health(client))
    return app


def _event(headers: dict[str, str], body: bytes, routed: list[str]) -> BaseCloudEvent:
    """Parse and check one incoming event; raise Refused or ContractError with the reason."""
    if not contract.is_cloudevent(headers):
        raise Refused(
            "not a CloudEvent: send binary mode (ce-* headers) or structured mode "
            "(Content-Type: application/cloudevents+json)"
        )
    event = contract.from_http(headers, body)
    if event.get_type() not in contract.EVENT_TYPES:
        raise Refused(
            f"unknown event type {event.get_type()!r}; the broker takes "
            + ", ".join(contract.EVENT_TYPES)
        )
    payload: Any = contract.payload_of(event)
    if not JOB_ID.match(payload.id):
        raise Refused("data.id must be 1-128 characters of letters, digits and . _ : -")
    if event.get_subject() != payload.id:
        raise Refused("subject must be the job id (data.id)")
    if event.get_type() == contract.REQUESTED:
        language = event.get_extension(contract.LANGUAGE_EXTENSION)
        if language != payload.language:
            raise Refused(
                f"the {contract.LANGUAGE_EXTENSION!r} extension attribute must equal "
                "data.language (triggers route on it)"
            )
        if language not in routed:
            raise Refused(f"language {language!r} is not supported; supported: {routed}")
    return event


def _publish(
    client: redis.Redis,
    store: JobStore,
    prefix: str,
    triggers: list[Trigger],
    event: BaseCloudEvent,
) -> tuple[list[str], bool]:
    """Publish `event`; a requested one together with its new job record. Returns the matched
    triggers and False when the event was a requested event for a job that already exists."""
    if event.get_type() != contract.REQUESTED:
        pipe = client.pipeline(transaction=True)
        matched = publish(pipe, prefix, triggers, event)
        pipe.execute()
        return matched, True
    job_id = str(event.get_subject())
    language = str(event.get_extension(contract.LANGUAGE_EXTENSION))
    with client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(keys.job(prefix, job_id))  # type: ignore[no-untyped-call]
            if pipe.exists(keys.job(prefix, job_id)):
                return [], False
            pipe.multi()
            store.advance(job_id, "queued", {"language": language}, pipe=pipe)
            matched = publish(pipe, prefix, triggers, event)
            pipe.execute()
        except redis.WatchError:
            return [], False  # created meanwhile by the same event sent twice at once
    return matched, True


if __name__ == "__main__":
    own = BrokerIngressSettings.from_env()
    serve("eventing.broker_ingress:create_app()", own.port, threads=own.threads, service="broker")
