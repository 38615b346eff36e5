"""GET /health for the eventing services whose only dependency is Redis (sink, broker ingress,
callbacks): 200 when Redis answers, 503 with the reason when it does not, so Knative's readiness
probe takes a service out of rotation while its store is gone."""

from __future__ import annotations

import redis
from flask import Blueprint, Response, jsonify


def redis_health(client: redis.Redis) -> Blueprint:
    """A blueprint answering GET /health from a PING of `client`."""
    health = Blueprint("health", __name__)

    @health.get("/health")
    def check() -> Response | tuple[Response, int]:
        try:
            client.ping()
        except redis.RedisError as exc:
            return jsonify(status="unavailable", error=str(exc)), 503
        return jsonify(status="ok")

    return health
