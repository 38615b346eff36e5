"""Settings of serving every HTTP service with gunicorn (eventing/wsgi.py, eventing/gworker.py,
eventing/glogging.py), the executor included: so this module, like eventing/settings_base.py,
imports no Redis code (pyproject.toml's import contracts).

ServingSettings are the operator's. WorkerSettings are how serve() hands its arguments to the
gunicorn processes it becomes and forks (their environment is the only way in): serve() writes
them, the worker and the logger read them, and no operator sets them.
"""

from __future__ import annotations

from pydantic import Field

from eventing.settings_base import Settings


class ServingSettings(Settings):
    """Every HTTP service: where it listens and how long it waits."""

    host: str = Field(
        default="0.0.0.0",
        validation_alias="SENTINEL_HOST",
        description="address every service listens on (`serve` sets 127.0.0.1)",
    )
    graceful_timeout_s: int = Field(
        default=60,
        validation_alias="SENTINEL_GRACEFUL_TIMEOUT_S",
        ge=0,
        description="seconds a SIGTERMed service lets requests in flight finish",
    )
    read_timeout_s: float = Field(
        default=10.0,
        validation_alias="SENTINEL_READ_TIMEOUT_S",
        gt=0,
        description="a request must arrive whole within this of its first byte, else a JSON "
        "408; requests are buffered whole before a thread takes them, so slow clients hold no "
        "thread (eventing/gworker.py)",
    )


class WorkerSettings(Settings):
    """What serve() passes to its gunicorn processes (set by Sentinel, not by operators)."""

    max_per_client: int = Field(
        default=0,
        validation_alias="SENTINEL_WORKER_MAX_PER_CLIENT",
        ge=0,
        description="connections one peer may hold open per worker process (0: no bound)",
    )
    max_body_bytes: int | None = Field(
        default=None,
        validation_alias="SENTINEL_WORKER_MAX_BODY_BYTES",
        ge=0,
        description="larger bodies get a JSON 413 (unset: no bound of the worker's own)",
    )
    service: str = Field(
        default="gunicorn",
        validation_alias="SENTINEL_SERVICE",
        description="the service's name in its JSON log lines (eventing/glogging.py)",
    )

    def environment(self) -> dict[str, str]:
        """These settings as the variables a gunicorn process reads them from."""
        env = {
            "SENTINEL_WORKER_MAX_PER_CLIENT": str(self.max_per_client),
            "SENTINEL_SERVICE": self.service,
        }
        if self.max_body_bytes is not None:
            env["SENTINEL_WORKER_MAX_BODY_BYTES"] = str(self.max_body_bytes)
        return env
