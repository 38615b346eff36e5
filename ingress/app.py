"""The ingress application factory: nothing happens at import time, so tests build their own.

Around every route (in this order): a request id (X-Request-Id, or a new one) bound to the logs
and returned; the API key when keys are configured; the read rate limit for read routes (the
submission budget is charged by the submitting routes, which know their cost); and on the way
out the X-RateLimit-* headers, a JSON log line and the request counter behind GET /metrics.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
import uuid

import redis
import structlog
from flask import Flask, Response, g, jsonify, request
from gunicorn.http import errors as http_errors
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from eventing import logs
from eventing.store import JobStore
from eventing.triggers import load_triggers
from ingress.api import api
from ingress.backlog import Depths
from ingress.catalog import LanguageCatalog
from ingress.errors import ApiError, respond
from ingress.health import Prober
from ingress.judge0 import judge0
from ingress.metrics import metrics_key
from ingress.piston import piston
from ingress.ratelimit import RateLimits
from ingress.services import EXTENSION, Services, key_matches
from ingress.settings import IngressSettings
from ingress.shapes import Error
from ingress.waiting import Listener, Waiters

log = structlog.get_logger("ingress")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Routes anyone may call without an API key or a rate limit: probes, scrapers, the schema.
OPEN_ENDPOINTS = frozenset(
    {"api.health", "api.load", "api.metrics_text", "api.openapi_document"}
    | {"api.healthz", "api.readyz"}  # probes: no API key (docs/deploy-knative.md)
)
READ_ENDPOINTS = frozenset(
    {
        "api.job",
        "api.status",
        "api.languages",
        "judge0.show",
        "judge0.batch_show",
        "judge0.language_list",
        "piston.runtimes_list",
    }
)
# Blueprints that check credentials their own way (Judge0's X-Auth-Token, which also takes our
# API keys): the X-API-Key check is theirs to make.
OWN_AUTH_BLUEPRINTS = frozenset({"judge0"})


def max_waiters(threads: int) -> int:
    """Waiting requests per process at once: three quarters of its threads (each waiting request
    holds one; they share one Redis listener), so a quarter always serves the rest. Why not a
    fixed 16: a client with 16 connections to two processes is not split 8 and 8 by the kernel,
    and the one that got more answered 202 or 503 to a client within the documented bound."""
    return max(1, threads * 3 // 4)


# Retry-After of the 503 answered while Redis does not answer (within SENTINEL_REDIS_TIMEOUT_S).
REDIS_RETRY_AFTER_S = 5


def create_app(settings: IngressSettings | None = None) -> Flask:
    """Build the API for `settings` (default: from the environment)."""
    settings = settings or IngressSettings.from_env()
    ev = settings.eventing
    client = ev.redis_client()
    triggers = load_triggers(ev.triggers_path, ev.service_urls, ev.namespace)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.trusted_proxy_hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxy_hops, x_proto=0, x_host=0
        )
    app.extensions[EXTENSION] = Services(
        settings=settings,
        redis=client,
        store=JobStore(client, ev.key_prefix, ev.job_ttl_seconds),
        triggers=triggers,
        catalog=LanguageCatalog(triggers, settings.languages_ttl_s),
        limits=RateLimits(
            ev.redis_url,
            ev.key_prefix,
            settings.rate_limit,
            settings.read_rate_limit,
            timeout_s=ev.redis_timeout_s,
        ),
        waiters=Waiters(max_waiters(settings.threads)),
        listener=Listener(ev.redis_client(blocking=True), ev.key_prefix),
        depths=Depths(),
        prober=Prober(triggers),
    )

    app.register_blueprint(api)
    app.register_blueprint(judge0)
    app.register_blueprint(piston)

    @app.before_request
    def admit() -> None:
        g.started = time.monotonic()
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(requestid=g.request_id)
        g.client = _client(settings)
        if request.endpoint in OPEN_ENDPOINTS:
            return
        own_auth = request.blueprint in OWN_AUTH_BLUEPRINTS
        if (
            settings.api_keys
            and not own_auth
            and not key_matches(request.headers.get("X-API-Key", ""), settings.api_keys)
        ):
            raise ApiError(
                401,
                "a valid X-API-Key header is required",
                headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
            )
        if request.endpoint in READ_ENDPOINTS:
            services: Services = app.extensions[EXTENSION]
            quota = services.limits.hit("read", g.client)
            if quota is not None:
                g.quota = quota

    @app.after_request
    def stamp(response: Response) -> Response:
        if request.method == "OPTIONS" and not response.get_data():
            # Flask's automatic OPTIONS answer is an empty text/html body: answer JSON too.
            allowed = [m.strip() for m in response.headers.get("Allow", "").split(",") if m]
            response.set_data(json.dumps({"allow": allowed}))
            response.mimetype = "application/json"
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-Id"] = request_id
        quota = g.get("quota")
        if quota is not None:
            response.headers.update(quota.headers())
        _count(app, response.status_code)
        log.info(
            "request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            client=request.remote_addr,
            ms=round((time.monotonic() - g.get("started", time.monotonic())) * 1000, 1),
        )
        return response

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return respond(exc, exc.body())

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(Error(error=exc.name, message=exc.description).wire()), exc.code or 500

    @app.errorhandler(http_errors.ParseException)
    @app.errorhandler(http_errors.NoMoreData)
    def malformed_body(exc: Exception) -> tuple[Response, int]:
        # gunicorn parses a chunked body only as the app reads it, so its refusals of a bad
        # chunk arrive here, inside a route, not in the worker (eventing/gworker.py).
        malformed = Error(error="the request body is malformed", message=str(exc))
        return jsonify(malformed.wire()), 400

    @app.errorhandler(redis.RedisError)
    def redis_down(exc: redis.RedisError) -> tuple[Response, int, dict[str, str]]:
        log.error("redis unavailable", error=str(exc))
        retry = str(REDIS_RETRY_AFTER_S)
        return (
            jsonify(Error(error="the job store is unavailable", message=str(exc)).wire()),
            503,
            {"Retry-After": retry},
        )

    return app


def wsgi() -> Flask:
    """The gunicorn entry point (`python -m ingress`): JSON logs, then the app from the env."""
    logs.configure("ingress")
    return create_app()


def _client(settings: IngressSettings) -> str:
    """Whom the rate limits count: the API key (as a hash) when a valid one is sent (X-API-Key,
    or Judge0's token header), so each key has its own budget wherever it calls from; else the
    client's address (after ProxyFix)."""
    accepted = settings.api_keys | settings.compat.judge0_authn_tokens
    for header in ("X-API-Key", settings.compat.judge0_authn_header):
        given = request.headers.get(header, "")
        if accepted and key_matches(given, accepted):
            return "key:" + hashlib.sha256(given.encode()).hexdigest()[:16]
    return request.remote_addr or "unknown"


# The methods /metrics names; any other (a client may send any token) counts as OTHER, so a
# stranger cannot add series to /metrics or fields to its hash in Redis.
METRIC_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def metric_labels(method: str, rule: str | None, status: int) -> str:
    """The hash field of one request: method, route and status, each from a bounded set (the
    route is the matched rule, never the path; the status is one of HTTP's)."""
    method = method if method in METRIC_METHODS else "OTHER"
    status = status if 100 <= status <= 599 else 0
    return f"{method} {rule or 'unmatched'} {status}"


def _count(app: Flask, status: int) -> None:
    """One more request for GET /metrics (a hash in Redis, shared by every worker)."""
    services: Services = app.extensions[EXTENSION]
    rule = request.url_rule.rule if request.url_rule is not None else None
    with contextlib.suppress(redis.RedisError):  # metrics must never fail a request
        services.redis.hincrby(
            metrics_key(services.settings.eventing.key_prefix, "requests"),
            metric_labels(request.method, rule, status),
            1,
        )
