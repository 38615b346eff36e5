"""Slow, silent and greedy clients cannot take the service (eventing/gworker.py), and a frozen
Redis gets a 503 with Retry-After instead of a hang. Everything over loopback only: the slow
clients come from other 127.0.0.0/8 addresses, so that the per-client bound does not decide
the outcome where the buffering is what is tested; every loop here stops by itself."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import requests

from eventing.settings import EventingSettings
from ingress.app import create_app
from ingress.settings import IngressSettings
from sentinel.serve import free_port, local_service_urls
from tests.conftest import Stack

REPO = Path(__file__).resolve().parent.parent
HEAD = b"POST /api/execute HTTP/1.1\r\nHost: sentinel\r\nContent-Type: application/json\r\n"


def _connect(port: int, source: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


class SlowClients:
    """`count` connections, each from its own loopback address, in three kinds: silent (never a
    byte), dripping (a header every half second, never the end of the head) and stalled (a
    head declaring 1,000 bytes of body, then 16 of them). One thread keeps them going and opens
    a new one whenever the server closes one, until stopped (or after `max_s` at most)."""

    def __init__(self, port: int, count: int, max_s: float = 60) -> None:
        self.port = port
        self.count = count
        self.max_s = max_s
        self.stop = threading.Event()
        self.open: dict[int, socket.socket] = {}
        self.reopened = 0
        self.answers: list[bytes] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowClients:
        for index in range(self.count):
            self._open(index)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self._thread.join(10)
        for sock in self.open.values():
            sock.close()

    def _open(self, index: int) -> None:
        source = f"127.0.{1 + index // 250}.{2 + index % 250}"
        sock = _connect(self.port, source)
        kind = index % 3
        if kind == 1:
            sock.send(HEAD)
        elif kind == 2:
            sock.send(HEAD + b"Content-Length: 1000\r\n\r\n" + b"{" * 16)
        self.open[index] = sock

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_s
        while not self.stop.is_set() and time.monotonic() < deadline:
            for index, sock in list(self.open.items()):
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data is not None:  # answered (408) or closed: come back, as an attacker does
                    self.answers.append(data)
                    sock.close()
                    self.reopened += 1
                    self._open(index)
                elif index % 3 == 1:
                    with contextlib.suppress(OSError):
                        sock.send(b"X-Drip: 1\r\n")
            self.stop.wait(0.5)


def test_200_slow_connections_leave_other_clients_served(stack: Stack) -> None:
    port = urlsplit(stack.url).port
    assert port is not None
    latencies = []
    with SlowClients(port, 200) as slow:
        time.sleep(1)  # let them all be accepted and start dripping
        held = sum(1 for sock in slow.open.values() if sock.fileno() != -1)
        for round_ in range(10):
            started = time.monotonic()
            assert requests.get(f"{stack.url}/healthz", timeout=2).status_code == 200
            answer = requests.post(
                f"{stack.url}/api/execute",
                json={"language": "python", "code": f"print({round_})"},
                timeout=2,
            )
            assert answer.status_code == 202, answer.text
            latencies.append(time.monotonic() - started)
        reopened = slow.reopened
    print(f"200 slow connections: {held} held; slowest healthz+submit {max(latencies):.3f}s")
    assert held == 200
    # They really were slow connections, not refused ones: none was answered 429.
    assert not any(b" 429 " in answer for answer in slow.answers)
    assert reopened < 200 * 3  # most were still being held while the others were served


def test_a_client_opening_too_many_connections_gets_429_json(stack: Stack) -> None:
    port = urlsplit(stack.url).port
    assert port is not None
    sockets = [_connect(port, "127.0.3.2") for _ in range(150)]
    try:
        # Two worker processes, 64 each at most: at least 22 of 150 refused, the rest held.
        # The refusals are waited for (answered as the connections are accepted), not slept on.
        answered: set[int] = set()
        deadline = time.monotonic() + 30
        watch = selectors.DefaultSelector()  # epoll: no FD_SETSIZE bound on the numbers
        for sock in sockets:
            watch.register(sock, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            ready = watch.select(0.2 if len(answered) < 150 - 2 * 64 else 0.5)
            if not ready and len(answered) >= 150 - 2 * 64:
                break  # the refusals came, and half a second more brought no other answer
            for key, _ in ready:
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                data = sock.recv(4096)
                watch.unregister(sock)  # answered, or closed without an answer
                if data:
                    assert data.startswith(b"HTTP/1.1 429 "), data
                    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]
                    answered.add(sock.fileno())
        watch.close()
        refused = len(answered)
        assert 150 - 2 * 64 <= refused < 150
        assert requests.get(f"{stack.url}/healthz", timeout=5).status_code == 200
    finally:
        for sock in sockets:
            sock.close()


def test_a_request_that_never_ends_gets_408_json(stack: Stack) -> None:
    port = urlsplit(stack.url).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(HEAD + b"Content-Length: 100\r\n\r\n{")
        sock.settimeout(30)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert "did not arrive" in json.loads(answer.split(b"\r\n\r\n", 1)[1])["message"]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own, to freeze with SIGSTOP."""
    server = shutil.which("redis-server")
    assert server is not None
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        yield url, process
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        process.wait(10)


def test_a_frozen_redis_gets_503_with_retry_after(
    own_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = own_redis
    triggers = REPO / "config" / "triggers.yaml"
    nowhere = f"http://127.0.0.1:{free_port()}"
    eventing = EventingSettings(
        redis_url=url,
        key_prefix="frozen",
        triggers_path=triggers,
        service_urls=dict(
            item.split("=", 1) for item in local_service_urls(triggers, nowhere, nowhere).split(",")
        ),
        redis_timeout_s=0.5,
    )
    client = create_app(IngressSettings(eventing=eventing, rate_limit="")).test_client()
    body = {"language": "python", "code": "print(1)"}
    assert client.post("/api/execute", json=body).status_code == 202
    os.kill(process.pid, signal.SIGSTOP)
    try:
        for answer in (client.post("/api/execute", json=body), client.get("/job/some-job")):
            assert answer.status_code == 503
            assert answer.headers["Retry-After"]
            assert answer.json["error"] == "the job store is unavailable"
    finally:
        os.kill(process.pid, signal.SIGCONT)
    assert client.post("/api/execute", json=body).status_code == 202
