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
        os.environ.get("SENTINEL_INGRESS_THREADS", "8"),
        "--worker-class",
        "gthread",
        "--no-control-socket",
        "--access-logfile",
        "-",
        "ingress.app:create_app()",
    ],
)
