"""Serve a Flask app factory with gunicorn: the one way every HTTP service of Sentinel starts.

No Redis code (only eventing/serving_settings.py), so the executor may use it as it uses
eventing.contract. Threads, not processes, by default: every service waits on I/O
(Redis, HTTP, sandboxed children), and one process keeps per-process state (caches, pools) whole.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from eventing.serving_settings import ServingSettings, WorkerSettings


def serve(
    app_factory: str,
    port: int,
    *,
    workers: int = 1,
    threads: int = 8,
    access_log: bool = True,
    max_body_bytes: int | None = None,
    max_per_client: int = 0,
    service: str = "",
) -> NoReturn:
    """Replace this process with gunicorn serving `app_factory` ("module:create_app()").

    SENTINEL_HOST chooses the address (default 0.0.0.0, as a container needs). A SIGTERM lets
    requests in flight finish within the graceful timeout (Knative's runtime contract). The
    worker is eventing/gworker.py's: requests are read whole before a thread takes them, within
    SENTINEL_READ_TIMEOUT_S; a body over `max_body_bytes` gets a readable JSON 413; a client
    holds at most `max_per_client` connections per worker process (0: unbounded). gunicorn's
    own logs are JSON lines stamped with `service` (eventing/glogging.py).
    """
    serving = ServingSettings.from_env()
    worker = WorkerSettings(
        max_per_client=max_per_client,
        max_body_bytes=max_body_bytes,
        service=service or app_factory.split(":")[0],
    )
    os.environ.update(worker.environment())  # gunicorn's processes read them (WorkerSettings)
    os.execv(
        sys.executable,
        [
            sys.executable, "-m", "gunicorn",
            "--bind", f"{serving.host}:{port}",
            "--workers", str(workers),
            "--threads", str(threads),
            "--worker-class", "eventing.gworker.SentinelWorker",
            "--logger-class", "eventing.glogging.JsonLogger",
            "--timeout", "0",
            "--graceful-timeout", str(serving.graceful_timeout_s),
            "--no-control-socket",
            *(["--access-logfile", "-"] if access_log else []),
            app_factory,
        ],
    )  # fmt: skip
