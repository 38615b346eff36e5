"""Callbacks: the signed POST to callbackUrl, its retries through the broker, and the SSRF
guard at submission. A real HTTP receiver runs in the test on a free port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
import requests

from eventing import keys
from eventing.callbacks import CallbackSettings, check_destination, sign, verify
from sentinel.serve import free_port
from tests.conftest import CALLBACK_SECRET, Stack


class Receiver:
    """A webhook receiver that fails its first `failures` deliveries with 500."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[float, dict[str, str], bytes, int]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = 500 if len(receiver.received) < receiver.failures else 200
                receiver.received.append((time.monotonic(), dict(self.headers), body, code))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if code == 200:
                    receiver.arrived.set()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    running = Receiver(getattr(request, "param", 0))
    yield running
    running.server.shutdown()


@pytest.mark.parametrize("receiver", [2], indirect=True)
def test_the_callback_is_signed_and_retried_until_accepted(
    stack: Stack, receiver: Receiver
) -> None:
    queued = stack.submit(
        {"language": "python", "code": "print(6 * 7)", "callbackUrl": receiver.url}
    )
    assert receiver.arrived.wait(60), receiver.received
    assert [code for *_, code in receiver.received] == [500, 500, 200]
    _, headers, body, _ = receiver.received[-1]
    assert verify(CALLBACK_SECRET, body, headers["X-Sentinel-Signature"])
    assert not verify("another secret", body, headers["X-Sentinel-Signature"])
    assert not verify(CALLBACK_SECRET, body + b" ", headers["X-Sentinel-Signature"])
    job = json.loads(body)
    assert job == stack.wait(queued["id"])
    assert job["output"] == "42\n" and job["status"] == "completed"
    assert headers["X-Sentinel-Job"] == queued["id"]
    assert headers["X-Sentinel-Event"] == "dev.sentinel.execution.completed"
    deliveries = {h["X-Sentinel-Delivery"] for _, h, _, _ in receiver.received}
    assert len(deliveries) == 1  # the same delivery id on every retry: receivers dedupe on it
    times = [t for t, *_ in receiver.received]
    assert times[2] - times[1] > times[1] - times[0] > 0.5  # exponential backoff (1 s, 2 s)


def test_no_callback_url_means_no_callback(stack: Stack, receiver: Receiver) -> None:
    stack.run({"language": "python", "code": "print(1)"})
    with_hook = stack.submit(
        {"language": "python", "code": "print(2)", "callbackUrl": receiver.url}
    )
    assert receiver.arrived.wait(60)
    assert len(receiver.received) == 1
    assert json.loads(receiver.received[0][2])["id"] == with_hook["id"]


def routed_to_callbacks(stack: Stack) -> int:
    """Events the callbacks trigger's stream ever took in (entries-added survives delivery)."""
    stream = keys.trigger_stream(stack.key_prefix, "callbacks-completed")
    client = redis.Redis.from_url(stack.redis_url)
    if not client.exists(stream):
        return 0
    return int(client.xinfo_stream(stream)["entries-added"])


def test_jobs_without_a_callback_skip_the_callbacks_hop(stack: Stack, receiver: Receiver) -> None:
    before = routed_to_callbacks(stack)
    stack.run({"language": "python", "code": "print(1)"})
    assert routed_to_callbacks(stack) == before
    stack.run({"language": "python", "code": "print(2)", "callbackUrl": receiver.url})
    assert receiver.arrived.wait(60)
    assert routed_to_callbacks(stack) == before + 1


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://192.168.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://127.0.0.2:8080/hook",  # loopback, and only 127.0.0.1 is allow-listed
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
        "not a url",
        "http://no-such-host.invalid/hook",
    ],
)
def test_callback_urls_to_internal_or_bad_places_are_refused(stack: Stack, url: str) -> None:
    answer = requests.post(
        f"{stack.url}/api/execute",
        json={"language": "python", "code": "print(1)", "callbackUrl": url},
        timeout=10,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "callbackUrl"


def test_destination_rules() -> None:
    nothing_allowed = CallbackSettings(secret="s")
    assert check_destination("http://127.0.0.1/x", nothing_allowed)
    assert check_destination("http://100.64.0.1/x", nothing_allowed)  # carrier-grade NAT
    assert check_destination("http://224.0.0.1/x", nothing_allowed)  # multicast
    assert check_destination("https://93.184.216.34/x", nothing_allowed) is None
    by_host = CallbackSettings(secret="s", allow_hosts=frozenset({"grader.internal"}))
    assert check_destination("http://GRADER.internal:9000/x", by_host) is None


def test_signatures_are_timestamped_and_expire() -> None:
    now = int(time.time())
    assert sign("k", b"{}", now) == sign("k", b"{}", now)
    assert sign("k", b"{}", now) != sign("k", b"{}", now + 1)
    assert verify("k", b"{}", sign("k", b"{}", now))
    assert not verify("k", b"{}", sign("k", b"{}", now - 3600))
    assert not verify("k", b"{}", "garbage")
