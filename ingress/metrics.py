"""GET /metrics: Prometheus text, computed from Redis at each scrape.

Gunicorn runs several worker processes, and an in-process prometheus_client registry would show
each scrape one worker's numbers only. Instead the counters live in Redis (HINCRBY per request
and per queued job, ingress/app.py and ingress/submissions.py) and the gauges are read live
(XLEN of every trigger's stream, the dispatcher's heartbeat), so every worker, and every replica
of the ingress, serves the same truth. prometheus_client only formats.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import cast

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from eventing import keys
from eventing.triggers import Trigger

CONTENT_TYPE = CONTENT_TYPE_LATEST


def metrics_key(prefix: str, name: str) -> str:
    """Hashes of counters read by GET /metrics: requests (ingress/app.py) and submitted jobs
    (ingress/submissions.py)."""
    return f"{prefix}:metrics:{name}"


class RedisCollector(Collector):
    """Reads the counters and backlogs of one Sentinel (one key prefix) at collection time."""

    def __init__(self, client: redis.Redis, prefix: str, triggers: Sequence[Trigger]) -> None:
        self.client = client
        self.prefix = prefix
        self.triggers = triggers

    def collect(self) -> Iterator[Metric]:
        """The metric families, fresh from Redis."""
        requests = CounterMetricFamily(
            "sentinel_http_requests",
            "HTTP requests answered by the ingress, by method, route and status.",
            labels=["method", "route", "status"],
        )
        for field, value in self._hash("requests").items():
            method, route, status = field.split(" ", 2)
            requests.add_metric([method, route, status], value)
        yield requests
        submitted = CounterMetricFamily(
            "sentinel_jobs_submitted",
            "Jobs queued by the ingress, by language.",
            labels=["language"],
        )
        for language, value in self._hash("submitted").items():
            submitted.add_metric([language], value)
        yield submitted
        backlog = GaugeMetricFamily(
            "sentinel_trigger_backlog",
            "Events waiting in a trigger's stream (delivered events leave it).",
            labels=["trigger", "language"],
        )
        for trigger in self.triggers:
            depth = int(self.client.xlen(keys.trigger_stream(self.prefix, trigger.name)))
            backlog.add_metric([trigger.name, trigger.language or ""], depth)
        yield backlog
        up = GaugeMetricFamily(
            "sentinel_dispatcher_up", "1 when the dispatcher's heartbeat is fresh."
        )
        up.add_metric([], 1 if self.client.exists(keys.heartbeat(self.prefix, "dispatcher")) else 0)
        yield up

    def _hash(self, name: str) -> dict[str, float]:
        raw = cast(dict[bytes, bytes], self.client.hgetall(metrics_key(self.prefix, name)))
        return {k.decode(): float(v) for k, v in raw.items()}


def exposition(client: redis.Redis, prefix: str, triggers: Sequence[Trigger]) -> bytes:
    """The text format for one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(client, prefix, triggers))
    return generate_latest(registry)
