"""`python -m ingress`: serve the API with gunicorn (the container entrypoint)."""

import os
import sys

from ingress.settings import IngressSettings

settings = IngressSettings.from_env()
os.execv(
    sys.executable,
    [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{os.environ.get('SENTINEL_HOST', '0.0.0.0')}:{settings.port}",
        "--workers",
        os.environ.get("SENTINEL_INGRESS_WORKERS", "2"),
        "--threads",
        # ?wait=true requests hold a thread each (at most 16 per worker, ingress/app.py).
        os.environ.get("SENTINEL_INGRESS_THREADS", "32"),
        "--worker-class",
        "gthread",
        "--no-control-socket",
        # Requests are logged as JSON lines by the app itself (with their request id).
        "ingress.app:wsgi()",
    ],
)
