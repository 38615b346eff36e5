"""Shared fixtures: a real Redis; the ingress in-process (`api`); and the whole service started
exactly as `nox -s serve` does (`stack`).

Redis is the one named by REDIS_URL when set, else a redis-server started here on a free port.
Each test session uses its own key prefix, so a shared Redis is never polluted across runs.

The pyramid: what only the ingress decides (validation, error answers, response shapes) is tested
in-process with `api`, against the real Redis and without a process or a socket; what needs an
executor's result, the HTTP server (eventing/gworker.py) or the services' health goes through
`stack`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient

from eventing.settings import DEFAULT_TRIGGERS
from ingress.app import create_app
from ingress.settings import IngressSettings
from sentinel.serve import Supervisor, free_port, local_service_urls, start_stack

FINISHED = ("completed", "failed")
# A secret planted in the environment of this process (the executor of direct runner calls) and
# of every stack it starts: the hostile suite looks for it everywhere a program can read.
CANARY = f"canary-{uuid.uuid4().hex}"
os.environ["SENTINEL_TEST_CANARY"] = CANARY


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: REDIS_URL, or a redis-server of our own for the session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server not found: install the Debian package redis-server")
    port = free_port()
    data = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def key_prefix() -> str:
    """Redis keys of this test session live under their own prefix."""
    return f"sentinel-test-{uuid.uuid4().hex[:8]}"


@dataclass
class Stack:
    """The running service, and the calls a client makes to it."""

    url: str
    redis_url: str
    key_prefix: str
    log_dir: Path
    # Sent with every call made through submit/wait/run (e.g. an X-API-Key).
    headers: dict[str, str] = field(default_factory=dict)

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/execute; the 202 answer."""
        answer = requests.post(
            f"{self.url}/api/execute", json=body, headers=self.headers, timeout=10
        )
        assert answer.status_code == 202, answer.text
        return dict(answer.json())

    def wait(self, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
        """Poll GET /job/{id} until the job is finished."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = requests.get(f"{self.url}/job/{job_id}", headers=self.headers, timeout=10).json()
            if job["status"] in FINISHED:
                return dict(job)
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} not finished after {timeout_s}s: {job}")

    def run(self, body: dict[str, Any], timeout_s: float = 60) -> dict[str, Any]:
        """Submit and wait for the result."""
        return self.wait(self.submit(body)["id"], timeout_s)


def _stack_cache() -> str:
    """One compile cache for every stack of this run (and of the pytest runs it starts, which
    inherit the variable), as one machine keeps its executor's across starts (<data dir>/
    executor/cache, sentinel/executor_identity.py): each new executor would otherwise build C++'s
    precompiled headers again, 6 s of CPU each time. Sticky and open to all, as /tmp is: the
    executor's user writes it, and only the executor (never a sandbox) sees it."""
    shared = os.environ.get("SENTINEL_TEST_STACK_CACHE")
    if not shared:
        shared = os.environ["SENTINEL_TEST_STACK_CACHE"] = tempfile.mkdtemp(
            prefix="sentinel-test-cache-"
        )
        os.chmod(shared, 0o1777)
        atexit.register(shutil.rmtree, shared, True)
    return shared


# The callback secret and allow-list of every stack started here: test receivers listen on
# 127.0.0.1, which is otherwise refused as a callback destination.
CALLBACK_SECRET = "test-callback-secret"
STACK_ENV = {
    "SENTINEL_CALLBACK_SECRET": CALLBACK_SECRET,
    "SENTINEL_CALLBACK_ALLOW": "127.0.0.1",
    # The suite submits and polls far faster than a client should; limits get their own stack.
    "SENTINEL_RATE_LIMIT": "100000/minute",
    "SENTINEL_READ_RATE_LIMIT": "100000/minute",
    # A request must arrive whole within this (eventing/gworker.py): short, so that the test of
    # the 408 waits little; every request of the suite is sent at once over loopback.
    "SENTINEL_READ_TIMEOUT_S": "3",
    "SENTINEL_CACHE_DIR": _stack_cache(),
}


@contextlib.contextmanager
def running_stack(
    redis_url: str,
    key_prefix: str,
    data_dir: Path,
    env: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Start the whole service with STACK_ENV plus `env`, under its own key prefix; stop it
    on exit. Fixtures needing a differently configured service use this, not a copy of it."""
    supervisor = Supervisor(data_dir, quiet=True)
    full_env = {
        **os.environ,
        **STACK_ENV,
        **(env or {}),
        "REDIS_URL": redis_url,
        "SENTINEL_KEY_PREFIX": key_prefix,
    }
    try:
        url = start_stack(supervisor, full_env, "127.0.0.1", free_port(), data_dir)
        yield Stack(url, redis_url, key_prefix, data_dir, dict(headers or {}))
    finally:
        supervisor.stop()


@pytest.fixture(scope="session")
def stack(
    redis_url: str, key_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Executor, sink, callbacks, dispatcher and ingress as real processes over real HTTP."""
    with running_stack(redis_url, key_prefix, tmp_path_factory.mktemp("stack")) as running:
        yield running


# Where the in-process ingress finds its executors, sink and callbacks: a port nothing listens on
# (9, discard), so the language catalog answers at once with what the triggers know
# (ingress/catalog.py) and nothing of a session's stack is asked.
NOWHERE = "http://127.0.0.1:9"


def ingress_settings(env: dict[str, str]) -> IngressSettings:
    """The ingress's settings read from `env` over this process's environment, as the stack's
    ingress reads its own (the one place a test builds them from keys)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return IngressSettings.from_env()


def ingress_app(redis_url: str, key_prefix: str, env: dict[str, str] | None = None) -> Flask:
    """The ingress of ingress/app.py configured as `running_stack` configures the stack's
    (STACK_ENV) plus `env`, under `key_prefix`. Under a prefix no dispatcher reads, what it
    queues stays queued; under a started stack's prefix, that stack runs it."""
    return create_app(
        ingress_settings(
            {
                **STACK_ENV,
                **(env or {}),
                "REDIS_URL": redis_url,
                "SENTINEL_KEY_PREFIX": key_prefix,
                "SENTINEL_SERVICE_URLS": local_service_urls(
                    DEFAULT_TRIGGERS, executor=NOWHERE, sink=NOWHERE, callbacks=NOWHERE
                ),
            }
        )
    )


@pytest.fixture(scope="session")
def api(redis_url: str, key_prefix: str) -> FlaskClient:
    """The ingress in-process, through Flask's test client (the real WSGI app, no server),
    against the real Redis. Its key prefix is its own and no dispatcher reads it, so what it
    queues stays queued: a test that needs a job's result uses `stack`."""
    return ingress_app(redis_url, f"{key_prefix}-api").test_client()
