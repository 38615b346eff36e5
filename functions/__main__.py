"""`python -m functions`: serve the executor on $PORT (the container entrypoint)."""

import os

from eventing.wsgi import serve
from functions.settings import ExecutorSettings

# Sandbox runs wait on child processes, not the GIL: threads are the executor's run slots.
serve(
    "functions.app:create_app()",
    ExecutorSettings.from_env().port,
    threads=int(os.environ.get("SENTINEL_SLOTS") or os.cpu_count() or 2),
)
