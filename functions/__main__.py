"""`python -m functions`: serve the executor with gunicorn on $PORT (the container entrypoint)."""

import os
import sys

from functions.settings import ExecutorSettings

settings = ExecutorSettings.from_env()
# Sandbox runs wait on child processes, not the GIL: threads are the executor's run slots.
slots = int(os.environ.get("SENTINEL_SLOTS") or os.cpu_count() or 2)
# Spare threads beyond the slots, so /health answers while every slot runs a job. Only useful
# behind a limiter that sends at most `slots` jobs at once (Knative's containerConcurrency).
health_threads = int(os.environ.get("SENTINEL_HEALTH_THREADS") or 0)
os.execv(
    sys.executable,
    [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{os.environ.get('SENTINEL_HOST', '0.0.0.0')}:{settings.port}",
        "--workers",
        "1",
        "--threads",
        str(slots + health_threads),
        "--worker-class",
        "gthread",
        "--timeout",
        "0",
        "--graceful-timeout",
        "60",
        "--no-control-socket",
        "--access-logfile",
        "-",
        "functions.app:create_app()",
    ],
)
