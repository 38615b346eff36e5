"""The ingress application factory: nothing happens at import time, so tests build their own."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from eventing.store import JobStore
from eventing.triggers import Trigger, load_triggers
from ingress.catalog import LanguageCatalog
from ingress.settings import IngressSettings


@dataclass(frozen=True)
class Services:
    """What the routes use, built once per app (kept in app.extensions)."""

    settings: IngressSettings
    redis: redis.Redis
    store: JobStore
    triggers: list[Trigger]
    catalog: LanguageCatalog


def create_app(settings: IngressSettings | None = None) -> Flask:
    """Build the API for `settings` (default: from the environment)."""
    settings = settings or IngressSettings.from_env()
    ev = settings.eventing
    client = redis.Redis.from_url(ev.redis_url)
    triggers = load_triggers(ev.triggers_path, ev.service_urls, ev.namespace)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["sentinel"] = Services(
        settings=settings,
        redis=client,
        store=JobStore(client, ev.key_prefix, ev.job_ttl_seconds),
        triggers=triggers,
        catalog=LanguageCatalog(triggers, settings.languages_ttl_s),
    )

    from ingress.api import api

    app.register_blueprint(api)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(error=exc.name, message=exc.description), exc.code or 500

    @app.errorhandler(redis.RedisError)
    def redis_down(exc: redis.RedisError) -> tuple[Response, int]:
        app.logger.error("redis unavailable: %s", exc)
        return jsonify(error="Service Unavailable", message="the job store is unavailable"), 503

    return app
