"""`python -m ingress`: serve the API (the container entrypoint)."""

import os

from eventing.wsgi import serve
from ingress.settings import IngressSettings

serve(
    "ingress.app:create_app()",
    IngressSettings.from_env().port,
    workers=int(os.environ.get("SENTINEL_INGRESS_WORKERS", "2")),
    threads=int(os.environ.get("SENTINEL_INGRESS_THREADS", "8")),
)
