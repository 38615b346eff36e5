"""Settings of the ingress, read from the environment. Defaults documented here only."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from eventing.settings import EventingSettings


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class IngressSettings:
    """The API's own knobs, plus the eventing settings it publishes with."""

    eventing: EventingSettings = field(default_factory=EventingSettings)
    port: int = 8080
    max_body_bytes: int = 1024 * 1024
    # Seconds a fetched language list is trusted before asking the executors again.
    languages_ttl_s: int = 60

    @classmethod
    def from_env(cls) -> IngressSettings:
        """SENTINEL_PORT (or PORT under Knative), SENTINEL_MAX_BODY_BYTES, plus eventing's keys."""
        return cls(
            eventing=EventingSettings.from_env(),
            port=_int("SENTINEL_PORT", _int("PORT", cls.port)),
            max_body_bytes=_int("SENTINEL_MAX_BODY_BYTES", cls.max_body_bytes),
            languages_ttl_s=_int("SENTINEL_LANGUAGES_TTL_S", cls.languages_ttl_s),
        )
