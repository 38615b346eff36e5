"""`python -m functions`: serve the executor on $PORT (the container entrypoint)."""

import os

from eventing.wsgi import serve
from functions.settings import ExecutorSettings

# Sandbox runs wait on child processes, not the GIL: threads are the executor's run slots.
slots = int(os.environ.get("SENTINEL_SLOTS") or os.cpu_count() or 2)
# Spare threads beyond the slots, so /health answers while every slot runs a job. Only useful
# behind a limiter that sends at most `slots` jobs at once (Knative's containerConcurrency).
health_threads = int(os.environ.get("SENTINEL_HEALTH_THREADS") or 0)
serve(
    "functions.app:create_app()",
    ExecutorSettings.from_env().port,
    threads=slots + health_threads,
    service="executor",
)
