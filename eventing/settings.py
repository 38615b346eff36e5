"""Settings of the eventing services (broker, dispatcher, sink), read from the environment.

Every key, its default and its meaning is here and nowhere else; docs/configuration.md lists them.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import redis

DEFAULT_TRIGGERS = Path(__file__).resolve().parent.parent / "config" / "triggers.yaml"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _urls(raw: str) -> dict[str, str]:
    """Parse `name=url,name=url` (how a local run points trigger refs at local ports)."""
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {name.strip(): url.strip().rstrip("/") for name, url in pairs}


@dataclass(frozen=True)
class EventingSettings:
    """Configuration shared by the broker, dispatcher and sink."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "sentinel"
    triggers_path: Path = DEFAULT_TRIGGERS
    # Trigger subscriber refs (`ref: {kind: Service, name: X}`) resolve to these URLs when listed,
    # else to http://X.<namespace>.svc.cluster.local as inside Kubernetes.
    service_urls: dict[str, str] = field(default_factory=dict)
    namespace: str = "default"
    job_ttl_seconds: int = 24 * 3600
    consumer_name: str = ""
    # An entry pending this long on a consumer that stopped renewing it is taken over.
    claim_idle_ms: int = 30_000
    # A consumer idle this long with nothing pending is removed from its group (memory bound).
    consumer_expire_ms: int = 3_600_000
    port: int = 8082
    # Seconds a Redis command (or connect) may take before the request gets a 503 with
    # Retry-After instead of hanging with it (a frozen Redis answers nothing, ever).
    redis_timeout_s: float = 5.0
    # The sink stores at most this much of a result's JSON (contract.bounded: texts cut, and
    # the result says `truncated`), whatever an executor sent.
    max_result_bytes: int = 2 * 1024 * 1024

    def redis_client(self, *, blocking: bool = False) -> redis.Redis:
        """A client of REDIS_URL whose commands time out after redis_timeout_s; `blocking`
        for a connection that waits on purpose (a PSUBSCRIBE listener): connect timeout only."""
        return redis.Redis.from_url(
            self.redis_url,
            socket_timeout=None if blocking else self.redis_timeout_s,
            socket_connect_timeout=self.redis_timeout_s,
        )

    @classmethod
    def from_env(cls) -> EventingSettings:
        """Read SENTINEL_* and REDIS_URL; unset keys keep the defaults above.

        REDIS_URL, SENTINEL_KEY_PREFIX, SENTINEL_TRIGGERS, SENTINEL_SERVICE_URLS,
        SENTINEL_NAMESPACE, SENTINEL_JOB_TTL_SECONDS (job retention, default 24 h),
        SENTINEL_CONSUMER (this dispatcher's consumer name, default host-pid),
        SENTINEL_CLAIM_IDLE_MS (take over entries idle this long, default 30 s),
        SENTINEL_CONSUMER_EXPIRE_MS (forget consumers idle this long with nothing pending,
        default 1 h), PORT (the sink's or broker ingress's port, default 8082),
        SENTINEL_REDIS_TIMEOUT_S (a Redis command's time limit, default 5 s),
        SENTINEL_MAX_RESULT_BYTES (the largest result stored, default 2 MiB).
        """
        return cls(
            redis_url=os.environ.get("REDIS_URL") or cls.redis_url,
            key_prefix=os.environ.get("SENTINEL_KEY_PREFIX") or cls.key_prefix,
            triggers_path=Path(os.environ.get("SENTINEL_TRIGGERS") or DEFAULT_TRIGGERS),
            service_urls=_urls(os.environ.get("SENTINEL_SERVICE_URLS", "")),
            namespace=os.environ.get("SENTINEL_NAMESPACE") or cls.namespace,
            job_ttl_seconds=_int("SENTINEL_JOB_TTL_SECONDS", cls.job_ttl_seconds),
            consumer_name=os.environ.get("SENTINEL_CONSUMER")
            or f"{socket.gethostname()}-{os.getpid()}",
            claim_idle_ms=_int("SENTINEL_CLAIM_IDLE_MS", cls.claim_idle_ms),
            consumer_expire_ms=_int("SENTINEL_CONSUMER_EXPIRE_MS", cls.consumer_expire_ms),
            port=_int("PORT", cls.port),
            max_result_bytes=_int("SENTINEL_MAX_RESULT_BYTES", cls.max_result_bytes),
            redis_timeout_s=float(
                os.environ.get("SENTINEL_REDIS_TIMEOUT_S") or cls.redis_timeout_s
            ),
        )
