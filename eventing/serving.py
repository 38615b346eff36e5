"""How the eventing HTTP services (the sink, the broker ingress) run: gunicorn, threads, one
process, bound to SENTINEL_HOST:PORT. The `__main__` of each calls `exec_gunicorn`."""

from __future__ import annotations

import os
import sys

from eventing.settings import EventingSettings


def exec_gunicorn(app_factory: str, threads_env: str, default_threads: int = 8) -> None:
    """Replace this process with gunicorn serving `app_factory` (e.g. "eventing.sink:create_app()")
    with `$threads_env` threads (the deliveries it can take at once)."""
    port = EventingSettings.from_env().port
    os.execv(
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{os.environ.get('SENTINEL_HOST', '0.0.0.0')}:{port}",
            "--workers",
            "1",
            "--threads",
            os.environ.get(threads_env) or str(default_threads),
            "--worker-class",
            "gthread",
            "--no-control-socket",
            "--access-logfile",
            "-",
            app_factory,
        ],
    )
