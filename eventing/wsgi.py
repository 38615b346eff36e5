"""Serve a Flask app factory with gunicorn: the one way every HTTP service of Sentinel starts.

Standard library only, so the executor may use it as it uses eventing.contract (the executor
image carries no Redis code). Threads, not processes, by default: every service waits on I/O
(Redis, HTTP, sandboxed children), and one process keeps per-process state (caches, pools) whole.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def serve(
    app_factory: str, port: int, *, workers: int = 1, threads: int = 8, access_log: bool = True
) -> NoReturn:
    """Replace this process with gunicorn serving `app_factory` ("module:create_app()").

    SENTINEL_HOST chooses the address (default 0.0.0.0, as a container needs). A SIGTERM lets
    requests in flight finish within the graceful timeout (Knative's runtime contract).
    """
    host = os.environ.get("SENTINEL_HOST", "0.0.0.0")
    os.execv(
        sys.executable,
        [
            sys.executable, "-m", "gunicorn",
            "--bind", f"{host}:{port}",
            "--workers", str(workers),
            "--threads", str(threads),
            "--worker-class", "gthread",
            "--timeout", "0",
            "--graceful-timeout", os.environ.get("SENTINEL_GRACEFUL_TIMEOUT_S", "60"),
            "--no-control-socket",
            *(["--access-logfile", "-"] if access_log else []),
            app_factory,
        ],
    )  # fmt: skip
