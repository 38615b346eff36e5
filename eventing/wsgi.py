"""Serve a Flask app factory with gunicorn: the one way every HTTP service of Sentinel starts.

No Redis code (only eventing/serving_settings.py), so the executor may use it as it uses
eventing.contract. Threads, not processes, by default: every service waits on I/O
(Redis, HTTP, sandboxed children), and one process keeps per-process state (caches, pools) whole.
"""

from __future__ import annotations

import importlib
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
    """Become gunicorn's master serving `app_factory` ("module:create_app()").

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
    sys.argv = [
        "gunicorn",
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
    ]  # fmt: skip
    # gunicorn's master is this process, not a new interpreter, and it imports the app's module
    # (not the app: create_app() still runs in each worker, after the fork, so no thread or
    # connection crosses it): every worker it forks then has the modules, and none imports them
    # again. A stack of the six services took 15 s of CPU to start, 5 s of it imports repeated
    # in the workers of an execv'd gunicorn; a cold start on Knative pays the same.
    importlib.import_module(app_factory.split(":")[0])
    from gunicorn.app.wsgiapp import run

    master = os.getpid()
    try:
        run()
        status = 0
    except SystemExit as done:  # gunicorn's master ends with sys.exit once its workers have
        if os.getpid() != master:
            # A worker's exit comes up through the stack it was forked from: it ends as any
            # process does, with its atexit handlers (the executor's prepared sandboxes and
            # run groups are removed there: functions/sandbox.py, functions/cgroups.py).
            raise
        status = 0 if done.code is None else done.code if isinstance(done.code, int) else 1
    # ...and then the master has nothing left to do: skip the interpreter's teardown of every
    # module the app imported (0.2-0.3 s of a service's graceful stop).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
