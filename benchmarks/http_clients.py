"""The dispatcher's HTTP client against the ones it could use instead: the client's CPU per
POST, side by side in one run (`./nox.sh -s bench -- http`).

A subscriber in its own process (werkzeug, threaded) answers each POST as an executor does: 200,
ce-* headers and a JSON body of about 400 bytes. Rounds alternate between the clients (urllib3's
PoolManager, which the dispatcher used until 2026-12-02; http.client on one kept connection; and
eventing/delivery_http.py), each timing its POSTs by this process's CPU time, so the server's
CPU is not counted. Results in docs/bench/http_clients.json; the table in docs/benchmarks.md.
"""

from __future__ import annotations

import http.client
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import urllib3

from eventing import contract, delivery_http
from sentinel.serve import free_port

OUT = Path(__file__).resolve().parents[1] / "docs" / "bench" / "http_clients.json"
ROUNDS = 5
POSTS = 300

_SERVER = """
import sys
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response
BODY = (b'{"id": "11111111-2222-3333-4444-555555555555", "verdict": "accepted", '
        + b'"x": 1, ' * 40 + b'"output": "hi"}')
HEADERS = {"ce-type": "dev.sentinel.execution.completed", "ce-source": "/sentinel/executor",
           "ce-specversion": "1.0", "ce-id": "9cf96716-2603-4003-8baa-6c15b23ea322",
           "ce-subject": "11111111-2222-3333-4444-555555555555", "ce-language": "python",
           "content-type": "application/json"}
@Request.application
def app(request):
    request.get_data()
    return Response(BODY, status=200, headers=HEADERS)
run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True)
"""


def _event_headers_and_body() -> tuple[dict[str, str], bytes]:
    submission = contract.Submission(
        id="11111111-2222-3333-4444-555555555555", language="python", code='print("hi")'
    )
    event = contract.make_event(contract.REQUESTED, submission, source="/b", language="python")
    return contract.to_binary(event)


def _clients(port: int, headers: dict[str, str], body: bytes) -> dict[str, Callable[[], int]]:
    url = f"http://127.0.0.1:{port}/"
    pool = urllib3.PoolManager(maxsize=1, block=False)
    plain = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ours = delivery_http.Client(1 << 24)

    def with_urllib3() -> int:
        answer = pool.request("POST", url, body=body, headers=headers, timeout=10.0, retries=False)
        return answer.status

    def with_http_client() -> int:
        plain.request("POST", "/", body=body, headers=headers)
        answer = plain.getresponse()
        answer.read()
        return answer.status

    def with_delivery_http() -> int:
        return ours.post(url, body, headers, 10.0).status

    return {
        "urllib3 PoolManager": with_urllib3,
        "http.client": with_http_client,
        "eventing/delivery_http.py": with_delivery_http,
    }


def main() -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        headers, body = _event_headers_and_body()
        clients = _clients(port, headers, body)
        cpu_us: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(ROUNDS):
            for name, post in clients.items():
                for _ in range(20):
                    assert post() == 200
                started = time.process_time()
                for _ in range(POSTS):
                    post()
                cpu_us[name].append((time.process_time() - started) / POSTS * 1e6)
    finally:
        server.terminate()
        server.wait()
    medians = {name: round(statistics.median(v), 1) for name, v in cpu_us.items()}
    ours = medians["eventing/delivery_http.py"]
    report = {
        "machine": platform.platform(),
        "rounds": ROUNDS,
        "posts_per_round": POSTS,
        "client_cpu_us_per_post": {
            name: {"median": medians[name], "rounds": [round(x, 1) for x in v]}
            for name, v in cpu_us.items()
        },
        "x_of_delivery_http": {name: round(m / ours, 2) for name, m in medians.items()},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print("| client | CPU per POST, µs (median of rounds) | x delivery_http |")
    print("|---|---|---|")
    for name, median in medians.items():
        print(f"| {name} | {median} | x{report['x_of_delivery_http'][name]} |")


if __name__ == "__main__":
    main()
