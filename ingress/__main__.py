"""`python -m ingress`: serve the API (the container entrypoint)."""

from eventing.wsgi import serve
from ingress.settings import IngressSettings

settings = IngressSettings.from_env()
serve(
    # Requests are logged as JSON lines by the app itself (with their request id).
    "ingress.app:wsgi()",
    settings.port,
    workers=settings.workers,
    # ?wait=true requests hold a thread each (at most 16 per worker, ingress/app.py).
    threads=settings.threads,
    access_log=False,
    max_body_bytes=settings.max_body_bytes,
    max_per_client=settings.connection_bound(),
    service="ingress",
)
