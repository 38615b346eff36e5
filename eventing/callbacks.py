"""Callbacks: POST a finished job's result to the `callbackUrl` given at submission, signed.

A subscriber of the broker like the sink (`python -m eventing.callbacks`), fed by the triggers
`callbacks-completed` and `callbacks-failed`. For each event it reads the job's record (where the
ingress stored `callbackUrl` at submission), builds the body GET /job/{id} would show, signs it
and POSTs it. Retries are the broker's, as Knative does it: when the receiver fails (non-2xx,
timeout, refused connection) we answer the dispatcher 502 and it redelivers with the trigger's
backoff; when its retries are spent, the trigger's dead-letter sink (our POST /dead) logs the
loss. Nothing here sleeps or loops.

The signature (header X-Sentinel-Signature: `t=<unix seconds>,v1=<hex>`) is HMAC-SHA256 with
SENTINEL_CALLBACK_SECRET over `<t>.<body>`, as Stripe signs webhooks: the timestamp lets a
receiver refuse replays, and v1 leaves room for a second scheme during a key rotation.

Server-side request forgery: a callback URL must resolve only to public addresses (no loopback,
private, link-local, multicast or reserved ranges) unless its host or address is allow-listed in
SENTINEL_CALLBACK_ALLOW. The ingress checks at submission and this service checks again right
before each POST (the name may have been re-pointed since: DNS rebinding); redirects are not
followed. The ingress uses `check_destination` from here; the settings are CallbackSettings in
eventing/settings.py.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import redis
import requests
import structlog
from flask import Flask, Response, jsonify, request

from eventing import contract, logs
from eventing.health import redis_health
from eventing.jobview import job_view
from eventing.settings import CallbackSettings, EventingSettings
from eventing.store import JobStore
from eventing.wsgi import serve

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-Sentinel-Signature"


def check_destination(url: str, settings: CallbackSettings) -> str | None:
    """Why `url` may not receive callbacks, or None when it may (resolves the host now)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "callbackUrl is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "callbackUrl must be an absolute http or https URL"
    host = parts.hostname.lower()
    if host in settings.allow_hosts:
        return None
    try:
        infos = socket.getaddrinfo(
            host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError):
        return f"callbackUrl host {host!r} does not resolve"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(address in network for network in settings.allow_networks):
            continue
        if not address.is_global or address.is_multicast:
            return (
                f"callbackUrl resolves to {address}, a loopback, private, link-local or "
                "reserved address; allow-list it in SENTINEL_CALLBACK_ALLOW if intended"
            )
    return None


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Sentinel-Signature value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), f"t={timestamp},v1={parts['v1']}")


def callback_body(
    record: dict[str, Any], payload: contract.ExecutionResult | contract.Failed
) -> bytes:
    """The job as GET /job/{id} shows it once finished (eventing/jobview.py), from the event
    rather than the record: the sink may not have stored the outcome yet."""
    finished: dict[str, Any] = {"id": payload.id, "timestamp": record.get("timestamp", "")}
    if isinstance(payload, contract.ExecutionResult):
        finished |= {"status": "completed", "result": payload.wire()}
    else:
        finished |= {"status": "failed", "reason": payload.reason}
    return json.dumps(job_view(finished), separators=(",", ":")).encode()


def create_app(
    settings: EventingSettings | None = None, callbacks: CallbackSettings | None = None
) -> Flask:
    """Build the callbacks app (default settings: from the environment)."""
    settings = settings or EventingSettings.from_env()
    callbacks = callbacks or CallbackSettings.from_env()
    client = settings.redis_client()
    store = JobStore(client, settings.key_prefix, settings.job_ttl_seconds)
    session = requests.Session()
    app = Flask(__name__)

    @app.post("/")
    def receive() -> Response | tuple[Response, int]:
        try:
            event = contract.from_http(dict(request.headers), request.get_data())
            payload = contract.payload_of(event)
        except contract.ContractError as exc:
            return jsonify(error=str(exc)), 400
        if not isinstance(payload, contract.ExecutionResult | contract.Failed):
            return jsonify(error="callbacks take completed and failed events"), 400
        try:
            record = store.get(payload.id)
        except redis.RedisError as exc:
            log.warning("job store unavailable", error=str(exc))
            return jsonify(error="job store unavailable"), 503
        url = (record or {}).get("callbackUrl")
        if not record or not url:
            return Response(status=204)
        bound = log.bind(job=payload.id, requestid=record.get("requestId"), url=url)
        if not callbacks.secret:
            bound.error("callback not sent: SENTINEL_CALLBACK_SECRET is not set")
            return jsonify(error="no callback secret configured"), 503
        refusal = check_destination(url, callbacks)
        if refusal:
            bound.warning("callback refused", reason=refusal)
            return jsonify(error=refusal), 422
        body = callback_body(record, payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Sentinel-Callbacks/1",
            SIGNATURE_HEADER: sign(callbacks.secret, body, int(time.time())),
            "X-Sentinel-Event": event.get_type(),
            "X-Sentinel-Job": payload.id,
            "X-Sentinel-Delivery": str(event.get_id()),
        }
        if record.get("requestId"):
            headers["X-Request-Id"] = str(record["requestId"])
        try:
            answer = session.post(
                url, data=body, headers=headers, timeout=callbacks.timeout_s, allow_redirects=False
            )
        except requests.RequestException as exc:
            bound.warning("callback failed", error=type(exc).__name__)
            return jsonify(error=f"receiver unreachable: {type(exc).__name__}"), 502
        if not 200 <= answer.status_code < 300:
            bound.warning("callback failed", code=answer.status_code)
            return jsonify(error=f"receiver answered {answer.status_code}"), 502
        bound.info("callback delivered", code=answer.status_code)
        return Response(status=204)

    @app.post("/dead")
    def dead_letter() -> Response:
        """The callbacks triggers' dead-letter sink: the retries are spent; say so, loudly."""
        try:
            event = contract.from_http(dict(request.headers), request.get_data())
            job = event.get_subject()
        except contract.ContractError:
            job = None
        log.error("callback given up after the trigger's retries", job=job)
        return Response(status=204)

    app.register_blueprint(redis_health(client))
    return app


def main() -> None:
    """`python -m eventing.callbacks`: serve on $PORT with gunicorn, as the sink does."""
    serve(
        "eventing.callbacks:wsgi()",
        EventingSettings.from_env().port,
        threads=CallbackSettings.from_env().threads,
        service="callbacks",
    )


def wsgi() -> Flask:
    """The gunicorn entry point: JSON logs, then the app."""
    logs.configure("callbacks")
    return create_app()


if __name__ == "__main__":
    main()
