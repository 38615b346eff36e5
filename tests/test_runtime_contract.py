"""Knative's runtime contract, on the real entrypoints the images run.

Each HTTP service (`python -m functions`, `python -m eventing.sink`, `python -m ingress`,
`python -m eventing.broker_ingress`, `python -m eventing.callbacks`) is started as a process with
only PORT telling it where to listen, as Knative does, and must answer its probe paths. The
dispatcher, which serves no HTTP, must pass its exec probe (`--check`) only while it works. The
executor must finish the job in flight when SIGTERM arrives (Knative stops a pod that way on
scale-down) and answer /health while every sandbox slot is busy (the manifests probe it with
SENTINEL_HEALTH_THREADS=1 and containerConcurrency = SENTINEL_SLOTS).
Real Redis, real gunicorn, real sandbox: nothing is mocked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from eventing import contract
from functions import sandbox
from sentinel.serve import local_service_urls
from tests.sandbox_helpers import host_processes_with

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """Until `url` answers 200; fail early if the process dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 within {timeout_s}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM our process group, SIGKILL it if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def base_env(**extra: str) -> dict[str, str]:
    """The test's environment without anything that picks a port other than PORT."""
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "SENTINEL_PORT")}
    env["SENTINEL_HOST"] = "127.0.0.1"
    env.update(extra)
    return env


def spawn(module: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", module], cwd=REPO, env=env, start_new_session=True
    )


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    data = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(data)],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as c:
            c.sendall(b"PING\r\n")
            if c.recv(16).startswith(b"+PONG"):
                break
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    stop(process)


def start_executor(work: Path, slots: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = base_env(
        PORT=str(port),
        SENTINEL_LANGUAGES="python",
        SENTINEL_SLOTS=str(slots),
        SENTINEL_HEALTH_THREADS="1",
        SENTINEL_WORK_DIR=str(work),
    )
    process = spawn("functions", env)
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/health", process)
    return process, url


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = start_executor(tmp_path_factory.mktemp("work"))
    yield url
    stop(process)


@pytest.fixture(scope="module")
def sink(redis_url: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    process = spawn("eventing.sink", base_env(PORT=str(port), REDIS_URL=redis_url))
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/health", process)
    yield process, url
    stop(process)


@pytest.fixture(scope="module")
def callbacks(redis_url: str) -> Iterator[str]:
    """The callbacks deliverer, also held to the contract: it listens on PORT, answers /health."""
    port = free_port()
    process = spawn("eventing.callbacks", base_env(PORT=str(port), REDIS_URL=redis_url))
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/health", process)
    yield url
    stop(process)


def sleepy_job(job_id: str, marker: str) -> tuple[dict[str, str], bytes]:
    """A requested event whose program sleeps 2 s, then prints; `marker` is its argument, on its
    command line for the host to find (tests/sandbox_helpers.py's host_processes_with)."""
    submission = contract.Submission(
        id=job_id,
        language="python",
        code="import time\ntime.sleep(2)\nprint('done')",
        args=[marker],
    )
    event = contract.make_event(contract.REQUESTED, submission, source="/tests", language="python")
    return contract.to_binary(event)


def test_executor_listens_on_port_and_answers_health(executor: str) -> None:
    answer = requests.get(f"{executor}/health", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["languages"] == ["python"]


def test_executor_finishes_the_job_in_flight_on_sigterm(tmp_path: Path) -> None:
    process, url = start_executor(tmp_path)
    try:
        marker = f"sentinel-sigterm-{uuid.uuid4().hex[:8]}"
        headers, body = sleepy_job("sigterm-1", marker)
        outcome: dict[str, requests.Response] = {}
        sender = threading.Thread(
            target=lambda: outcome.update(
                answer=requests.post(url, headers=headers, data=body, timeout=30)
            )
        )
        sender.start()
        deadline = time.monotonic() + 20
        while not host_processes_with(marker):  # the job is running in its sandbox now
            assert time.monotonic() < deadline, "the sandboxed program never started"
            time.sleep(0.05)
        # The one slot is busy; the spare thread still answers the probe.
        started = time.monotonic()
        assert requests.get(f"{url}/health", timeout=5).status_code == 200
        assert time.monotonic() - started < 1.0
        assert sender.is_alive(), "the job ended before SIGTERM: the test proves nothing"
        process.send_signal(signal.SIGTERM)  # the gunicorn master, as the kubelet does
        sender.join(30)
        answer = outcome["answer"]
        assert answer.status_code == 200
        reply = contract.from_http(dict(answer.headers), answer.content)
        assert reply.get_type() == contract.COMPLETED
        result = contract.payload_of(reply)
        assert isinstance(result, contract.ExecutionResult)
        assert (result.id, result.verdict, result.output) == ("sigterm-1", "accepted", "done\n")
        assert process.wait(20) == 0
    finally:
        stop(process)


def test_sink_listens_on_port_and_answers_health(
    sink: tuple[subprocess.Popen[bytes], str],
) -> None:
    assert requests.get(f"{sink[1]}/health", timeout=5).status_code == 200


def test_ingress_listens_on_port_and_answers_probes(
    redis_url: str, executor: str, sink: tuple[subprocess.Popen[bytes], str], callbacks: str
) -> None:
    env = base_env(
        REDIS_URL=redis_url,
        SENTINEL_TRIGGERS=str(REPO / "config" / "triggers.yaml"),
        SENTINEL_SERVICE_URLS=local_service_urls(
            REPO / "config" / "triggers.yaml", executor=executor, sink=sink[1], callbacks=callbacks
        ),
        SENTINEL_INGRESS_WORKERS="1",
    )
    # /health reports the dispatcher by its heartbeat: run the real one.
    dispatcher = spawn("eventing.dispatcher", env)
    port = free_port()
    ingress = spawn("ingress", {**env, "PORT": str(port)})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/readyz", ingress)  # the manifests' readiness probe
        assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}  # liveness
        wait_for(f"{url}/health", ingress)
        body = requests.get(f"{url}/health", timeout=5).json()
        assert body["status"] == "healthy", body
        ingress.send_signal(signal.SIGTERM)
        assert ingress.wait(20) == 0
    finally:
        stop(ingress)
        stop(dispatcher)


def test_sink_exits_cleanly_on_sigterm(redis_url: str) -> None:
    port = free_port()
    process = spawn("eventing.sink", base_env(PORT=str(port), REDIS_URL=redis_url))
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        stop(process)


def test_ingress_probes_are_shallow_and_need_no_api_key(tmp_path: Path) -> None:
    """/healthz answers with Redis down (liveness must not restart pods for it), /readyz says
    503 then; both answer without the X-API-Key every other route requires. No subscriber runs:
    neither probe asks one (the /health deep check would, and wake executors)."""
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    port = free_port()
    env = base_env(
        PORT=str(port),
        REDIS_URL=dead_redis,
        SENTINEL_TRIGGERS=str(REPO / "config" / "triggers.yaml"),
        SENTINEL_SERVICE_URLS=local_service_urls(
            REPO / "config" / "triggers.yaml",
            executor="http://127.0.0.1:9",
            sink="http://127.0.0.1:9",
            callbacks="http://127.0.0.1:9",
        ),
        SENTINEL_INGRESS_WORKERS="1",
        SENTINEL_API_KEYS="k1",
    )
    ingress = spawn("ingress", env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/healthz", ingress)
        ready = requests.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] == "unavailable"
        # The probes are open; the API is not (the key is enforced on this very process).
        assert requests.get(f"{url}/languages", timeout=10).status_code == 401
    finally:
        stop(ingress)


def test_broker_ingress_listens_on_port_answers_readiness_and_exits_on_sigterm(
    redis_url: str,
) -> None:
    port = free_port()
    env = base_env(
        PORT=str(port), REDIS_URL=redis_url, SENTINEL_TRIGGERS=str(REPO / "config/triggers.yaml")
    )
    process = spawn("eventing.broker_ingress", env)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process)  # the manifest's readiness probe
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        stop(process)


def test_callbacks_listens_on_port_and_answers_readiness(callbacks: str) -> None:
    assert requests.get(f"{callbacks}/health", timeout=5).json() == {"status": "ok"}


def _check(heartbeat: Path) -> subprocess.CompletedProcess[str]:
    """The dispatcher's readiness probe, as the manifest runs it."""
    return subprocess.run(
        [sys.executable, "-m", "eventing.dispatcher", "--check"],
        cwd=REPO,
        env=base_env(SENTINEL_HEARTBEAT_FILE=str(heartbeat)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dispatcher_check_passes_only_while_its_heartbeat_is_fresh(
    redis_url: str, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "heartbeat"
    before = _check(heartbeat)
    assert before.returncode == 1 and "no heartbeat file" in before.stderr
    env = base_env(
        REDIS_URL=redis_url,
        SENTINEL_TRIGGERS=str(REPO / "config" / "triggers.yaml"),
        SENTINEL_HEARTBEAT_FILE=str(heartbeat),
    )
    dispatcher = spawn("eventing.dispatcher", env)
    try:
        deadline = time.monotonic() + 30
        while _check(heartbeat).returncode != 0:
            assert dispatcher.poll() is None, "the dispatcher died"
            assert time.monotonic() < deadline, "--check never passed with a live dispatcher"
            time.sleep(0.2)
    finally:
        stop(dispatcher)
    # A heartbeat older than its time to live is a dead or stuck dispatcher (or no Redis).
    old = time.time() - 60
    os.utime(heartbeat, (old, old))
    stale = _check(heartbeat)
    assert stale.returncode == 1 and "old" in stale.stderr


def test_dispatcher_without_redis_never_writes_its_heartbeat(tmp_path: Path) -> None:
    """The file is touched only after the heartbeat reached Redis: a dispatcher cut off from
    Redis delivers nothing and must not look ready."""
    heartbeat = tmp_path / "heartbeat"
    env = base_env(
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        SENTINEL_TRIGGERS=str(REPO / "config" / "triggers.yaml"),
        SENTINEL_HEARTBEAT_FILE=str(heartbeat),
    )
    dispatcher = subprocess.Popen(
        [sys.executable, "-m", "eventing.dispatcher"],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert dispatcher.stdout is not None
        for line in dispatcher.stdout:  # until the first heartbeat has been tried, and failed
            if "heartbeat failed" in line:
                break
        else:
            raise AssertionError(f"the dispatcher exited with {dispatcher.wait()}")
        assert not heartbeat.exists()
        assert _check(heartbeat).returncode == 1
    finally:
        stop(dispatcher)  # type: ignore[arg-type]  # a text-mode Popen


@pytest.mark.skipif(
    sandbox.delegation() is None, reason="no cgroup is delegated to this process: no run groups"
)
def test_an_executor_stopped_by_sigterm_leaves_no_group_behind(tmp_path: Path) -> None:
    """Its worker ends as a process does, atexit handlers included (eventing/wsgi.py): the
    prepared sandbox waiting for the next run and the run groups still queued for removal are
    removed there (functions/sandbox.py, functions/cgroups.py), so no group of its is left."""
    process, url = start_executor(tmp_path)
    try:
        submission = contract.Submission(id="groups-1", code="print('hi')", language="python")
        headers, body = contract.to_binary(
            contract.make_event(contract.REQUESTED, submission, source="/test", language="python")
        )
        assert requests.post(url, data=body, headers=headers, timeout=30).status_code == 200
        workers = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(workers) == 1, workers
        parents = [Path(p) for p in sandbox.delegation().parents.values()]  # type: ignore[union-attr]
        groups = [g for parent in parents for g in parent.glob(f"sentinel-{workers[0]}-*")]
        assert groups, "no run group while it runs: the test proves nothing"
        process.send_signal(signal.SIGTERM)  # the gunicorn master, as the kubelet does
        assert process.wait(20) == 0
        left = [g for parent in parents for g in parent.glob(f"sentinel-{workers[0]}-*")]
        assert left == []
    finally:
        stop(process)


def test_a_killed_executor_leaves_no_sandbox_behind(tmp_path: Path) -> None:
    """kill -9 of the executor (master and worker) in the middle of a job: the sandboxed
    processes must not outlive it (bwrap's --die-with-parent, tied to the thread that starts the
    prepared sandboxes; docs/security.md)."""
    process, url = start_executor(tmp_path)
    marker = f"sentinel-orphan-{uuid.uuid4().hex[:8]}"
    code = f"import os\nos.execv('/bin/sh', ['sh', '-c', 'sleep 30; echo {marker}'])"
    submission = contract.Submission(
        id=marker, code=code, language="python", limits=contract.Limits(wall_time_ms=28_000)
    )
    headers, body = contract.to_binary(
        contract.make_event(contract.REQUESTED, submission, source="/test", language="python")
    )

    def send() -> None:
        with contextlib.suppress(requests.RequestException):
            requests.post(url, data=body, headers=headers, timeout=40)

    client = threading.Thread(target=send, daemon=True)
    client.start()
    try:
        deadline = time.monotonic() + 20
        while not host_processes_with(marker):
            assert time.monotonic() < deadline, "the sandboxed program never started"
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)  # gunicorn's master and worker, not the sandbox
        process.wait(10)
        deadline = time.monotonic() + 10
        while host_processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert host_processes_with(marker) == []
    finally:
        stop(process)
