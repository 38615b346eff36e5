"""Settings of the eventing services, read from the environment (eventing/settings_base.py says
how): what the broker ingress, dispatcher, sink and callbacks share (EventingSettings), each
service's own, and the callbacks' (which the ingress reads too).

Every key, its default and its meaning is here and nowhere else; docs/configuration.md is
generated from these classes (`python scripts/config-doc.py`).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Annotated, Any

import redis
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from eventing.settings_base import Settings

DEFAULT_TRIGGERS = Path(__file__).resolve().parent.parent / "config" / "triggers.yaml"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _urls(raw: str) -> dict[str, str]:
    """Parse `name=url,name=url` (how a local run points trigger refs at local ports)."""
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {name.strip(): url.strip().rstrip("/") for name, url in pairs}


def _items(raw: str) -> list[str]:
    """The non-empty items of a comma list."""
    return [item.strip() for item in raw.split(",") if item.strip()]


class EventingSettings(Settings):
    """Configuration shared by the broker ingress, dispatcher, sink and callbacks (and the
    ingress, which publishes into the same streams)."""

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias="REDIS_URL",
        description="the Redis to use; unset under `serve`, it starts Debian's `redis-server` "
        "with data in `var/redis` (append-only file fsynced before each answer, so a crash or "
        "restart loses nothing accepted; `SENTINEL_REDIS_APPENDFSYNC`; sentinel/serve.py)",
    )
    key_prefix: str = Field(
        default="sentinel",
        validation_alias="SENTINEL_KEY_PREFIX",
        description="prefix of every Redis key",
    )
    triggers_path: Path = Field(
        default=DEFAULT_TRIGGERS,
        validation_alias="SENTINEL_TRIGGERS",
        description="the trigger file (Knative Trigger resources)",
    )
    service_urls: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        validation_alias="SENTINEL_SERVICE_URLS",
        description="`name=url,…`: where trigger refs point on one machine (the supervisor sets "
        "it); a ref not listed resolves to `http://<name>.<namespace>.svc.cluster.local`",
    )
    namespace: str = Field(
        default="default",
        validation_alias="SENTINEL_NAMESPACE",
        description="namespace for refs resolved in-cluster",
    )
    job_ttl_seconds: int = Field(
        default=24 * 3600,
        validation_alias="SENTINEL_JOB_TTL_SECONDS",
        ge=1,
        description="how long job records are kept",
    )
    consumer_name: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        validation_alias="SENTINEL_CONSUMER",
        description="the dispatcher's consumer name in the groups",
        json_schema_extra={"doc_default": "`<host>-<pid>`"},
    )
    claim_idle_ms: int = Field(
        default=30_000,
        validation_alias="SENTINEL_CLAIM_IDLE_MS",
        ge=1,
        description="a pending entry not renewed this long by its consumer is taken over",
    )
    consumer_expire_ms: int = Field(
        default=3_600_000,
        validation_alias="SENTINEL_CONSUMER_EXPIRE_MS",
        ge=1,
        description="idle consumers with nothing pending are removed from their group after "
        "this (a memory bound)",
    )
    port: int = Field(
        default=8082,
        validation_alias="PORT",
        description="the sink's, broker ingress's and callbacks' port (Knative's port contract)",
    )
    redis_timeout_s: float = Field(
        default=5.0,
        validation_alias="SENTINEL_REDIS_TIMEOUT_S",
        gt=0,
        description="a Redis command or connect of the ingress, sink, broker ingress and "
        "callbacks may take this long; then a 503 with `Retry-After` instead of a hang (a "
        "frozen Redis answers nothing)",
    )
    max_result_bytes: int = Field(
        default=2 * 1024 * 1024,
        validation_alias="SENTINEL_MAX_RESULT_BYTES",
        ge=0,
        description="the sink (and the executor, which reads the same variable) keeps at most "
        "this much of a result's JSON: its longest texts (outputs, errors, echoed inputs and "
        "expectations) are cut to one common length, each ending in `[truncated]`, and the "
        'result says `"truncated": true`; the dispatcher reads answers of up to four times this '
        "(at least 16 MiB) and refuses a larger one",
    )

    @field_validator("service_urls", mode="before")
    @classmethod
    def _parse_urls(cls, value: Any) -> Any:
        return _urls(value) if isinstance(value, str) else value

    def redis_client(self, *, blocking: bool = False) -> redis.Redis:
        """A client of REDIS_URL whose commands time out after redis_timeout_s; `blocking`
        for a connection that waits on purpose (a PSUBSCRIBE listener): connect timeout only."""
        return redis.Redis.from_url(
            self.redis_url,
            socket_timeout=None if blocking else self.redis_timeout_s,
            socket_connect_timeout=self.redis_timeout_s,
        )


class SinkSettings(EventingSettings):
    """The result sink (`python -m eventing.sink`)."""

    threads: int = Field(
        default=8,
        validation_alias="SENTINEL_SINK_THREADS",
        ge=1,
        description="gunicorn threads of the sink",
    )


class BrokerIngressSettings(EventingSettings):
    """The broker ingress (`python -m eventing.broker_ingress`)."""

    threads: int = Field(
        default=8,
        validation_alias="SENTINEL_BROKER_THREADS",
        ge=1,
        description="gunicorn threads of the broker ingress",
    )


class DispatcherSettings(EventingSettings):
    """The dispatcher (`python -m eventing.dispatcher`)."""

    heartbeat_file: str | None = Field(
        default=None,
        validation_alias="SENTINEL_HEARTBEAT_FILE",
        description="a file the dispatcher touches after each heartbeat in Redis; `python -m "
        "eventing.dispatcher --check` exits 0 while it is under 10 s old (the Kubernetes "
        "readiness probe)",
    )


class CallbackSettings(Settings):
    """Callbacks (eventing/callbacks.py): read by the callbacks service and by the ingress, which
    refuses a `callbackUrl` it could not sign or may not call."""

    secret: str = Field(
        default="",
        validation_alias="SENTINEL_CALLBACK_SECRET",
        description="HMAC key of `X-Sentinel-Signature`; unset: a `callbackUrl` is refused "
        "(never send unsigned)",
    )
    # Hosts (exact, case-insensitive) and networks (CIDR or single addresses) exempt from the
    # public-address rule: one variable, its items that parse as networks are networks.
    allow_hosts: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        validation_alias="SENTINEL_CALLBACK_ALLOW",
        description="hosts and CIDRs exempt from the public-address rule, e.g. "
        "`127.0.0.1,10.20.0.0/16,grader.internal`",
    )
    allow_networks: Annotated[tuple[Network, ...], NoDecode] = Field(
        default=(), validation_alias="SENTINEL_CALLBACK_ALLOW"
    )
    timeout_s: float = Field(
        default=10.0,
        validation_alias="SENTINEL_CALLBACK_TIMEOUT_S",
        gt=0,
        description="one POST to a receiver (the trigger's timeout must be longer)",
    )
    threads: int = Field(
        default=8,
        validation_alias="SENTINEL_CALLBACK_THREADS",
        ge=1,
        description="gunicorn threads of the callbacks service",
    )

    @field_validator("allow_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return frozenset(item.lower() for item in _items(value) if _network(item) is None)

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return tuple(net for net in map(_network, _items(value)) if net is not None)


def _network(item: str) -> Network | None:
    try:
        return ipaddress.ip_network(item, strict=False)
    except ValueError:
        return None
