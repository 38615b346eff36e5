"""The broker alone, measured in one run on loopback: throughput and the latency each hop adds.

What runs: a Redis of its own (unless REDIS_URL), the dispatcher and the broker ingress as real
processes (`python -m eventing.dispatcher`, `python -m eventing.broker_ingress`), and no-op
subscribers (a threaded werkzeug server in this process) that record when each event arrived.

1. Throughput: N requested events published one transaction each (as the API does) while the
   dispatcher delivers them to a subscriber that answers 204; events/s published, and delivered
   from the first arrival to the last.
2. Latency per hop, one event at a time (no queueing): POST to the broker ingress until its 202
   (ingress hop); from sending that POST to the event's arrival at the trigger's subscriber
   (publish to delivery: ingress, stream and dispatcher; the dispatcher often delivers before the
   sender has read its 202); from the subscriber answering with a reply event to that reply
   arriving at the subscriber of a second trigger (reply hop: the dispatcher publishes the reply,
   acks, and another trigger loop delivers it). p50 and p95 of each.

Every loop is bounded (--events, --samples). Results go to --out as JSON and to stdout as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import redis
import requests
import yaml
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from eventing import contract  # noqa: E402
from eventing.broker import publish  # noqa: E402
from eventing.triggers import load_triggers  # noqa: E402
from sentinel.serve import free_port  # noqa: E402


class KeepAlive(WSGIRequestHandler):
    """HTTP/1.1, so the dispatcher's connections are reused as they would be by a real server."""

    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class Recorder:
    """No-op subscribers: /noop answers 204, /reply answers a completed event, /back 204."""

    def __init__(self) -> None:
        self.arrivals: dict[str, dict[str, float]] = {"noop": {}, "reply": {}, "back": {}}
        self.replied: dict[str, float] = {}
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        now = time.time()
        request = Request(environ)
        path = request.path.strip("/")
        subject = request.headers.get("ce-subject", "")
        with self.lock:
            self.arrivals[path][subject] = now
        if path != "reply":
            return Response(status=204)(environ, start_response)
        result = contract.ExecutionResult(id=subject, language="hop", verdict="accepted")
        reply = contract.make_event(contract.COMPLETED, result, source="/bench", language="hop")
        headers, body = contract.to_binary(reply)
        with self.lock:
            self.replied[subject] = time.time()
        return Response(body, status=200, headers=headers)(environ, start_response)


def triggers_file(directory: Path, subscriber: str) -> Path:
    def trigger(name: str, attributes: dict[str, str], path: str) -> dict[str, Any]:
        return {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Trigger",
            "metadata": {
                "name": name,
                "annotations": {"sentinel.dev/max-concurrent-deliveries": "8"},
            },
            "spec": {
                "filter": {"attributes": attributes},
                "subscriber": {"uri": f"{subscriber}/{path}"},
                "delivery": {"retry": 3, "backoffDelay": "PT0.1S", "timeout": "PT10S"},
            },
        }

    path = directory / "triggers.yaml"
    path.write_text(
        yaml.safe_dump_all(
            [
                trigger("noop", {"type": contract.REQUESTED, "language": "bench"}, "noop"),
                trigger("hop", {"type": contract.REQUESTED, "language": "hop"}, "reply"),
                trigger("back", {"type": contract.COMPLETED, "language": "hop"}, "back"),
            ]
        )
    )
    return path


def requested(language: str) -> Any:
    submission = contract.Submission(id=str(uuid.uuid4()), code="pass", language=language)
    return contract.make_event(contract.REQUESTED, submission, source="/bench", language=language)


def wait_http(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wait_for(check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for deliveries")
        time.sleep(0.005)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "broker.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sentinel-bench-broker-"))
    processes: list[subprocess.Popen[bytes]] = []
    recorder = Recorder()
    server = make_server(
        "127.0.0.1", free_port(), recorder, threaded=True, request_handler=KeepAlive
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            port = free_port()
            redis_server = shutil.which("redis-server")
            if redis_server is None:
                raise SystemExit("redis-server not found (Debian package redis-server)")
            processes.append(
                subprocess.Popen(
                    [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                    stdout=subprocess.DEVNULL,
                )
            )
            redis_url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(redis_url)
        wait_for(lambda: _pings(client), 10)
        path = triggers_file(work, f"http://127.0.0.1:{server.port}")
        broker_port = free_port()
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "SENTINEL_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
            "SENTINEL_TRIGGERS": str(path),
            "SENTINEL_HOST": "127.0.0.1",
            "PORT": str(broker_port),
        }
        log = (work / "services.log").open("wb")
        for module in ("eventing.dispatcher", "eventing.broker_ingress"):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", module], env=env, cwd=REPO, stdout=log, stderr=log
                )
            )
        broker = f"http://127.0.0.1:{broker_port}"
        wait_http(f"{broker}/health")
        prefix = env["SENTINEL_KEY_PREFIX"]
        triggers = load_triggers(path, {})

        # Warm-up: connections, the dispatcher's groups.
        for _ in range(20):
            _publish(client, prefix, triggers, requested("bench"))
        wait_for(lambda: len(recorder.arrivals["noop"]) >= 20, 30)
        recorder.arrivals["noop"].clear()

        # 1. Throughput.
        events = [requested("bench") for _ in range(args.events)]
        started = time.time()
        for event in events:
            _publish(client, prefix, triggers, event)
        published_s = time.time() - started
        wait_for(lambda: len(recorder.arrivals["noop"]) >= args.events, 120)
        arrivals = sorted(recorder.arrivals["noop"].values())
        delivered_s = arrivals[-1] - started

        # 2. Latency per hop, one event at a time.
        session = requests.Session()
        ingress_hop, delivery_hop, reply_hop = [], [], []
        for _ in range(args.samples):
            event = requested("hop")
            subject = str(event.get_subject())
            headers, body = contract.to_binary(event)
            sent = time.time()
            answer = session.post(broker, data=body, headers=headers, timeout=10)
            accepted = time.time()
            assert answer.status_code == 202, answer.text
            wait_for(lambda s=subject: s in recorder.arrivals["back"], 30)  # type: ignore[misc]
            ingress_hop.append(accepted - sent)
            delivery_hop.append(recorder.arrivals["reply"][subject] - sent)
            reply_hop.append(recorder.arrivals["back"][subject] - recorder.replied[subject])

        results = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "subscriber": "werkzeug threaded server in the benchmark process",
            "throughput": {
                "events": args.events,
                "published_per_s": round(args.events / published_s),
                "delivered_per_s": round(args.events / delivered_s),
                "concurrency": 8,
            },
            "latency": {
                "samples": args.samples,
                "ingress_hop": percentiles(ingress_hop),
                "publish_to_delivery": percentiles(delivery_hop),
                "reply_hop": percentiles(reply_hop),
            },
        }
    finally:
        server.shutdown()
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    t, lat = results["throughput"], results["latency"]
    print(
        f"| events | published/s | delivered/s |\n|---|---|---|\n| {t['events']} "
        f"| {t['published_per_s']} | {t['delivered_per_s']} |\n"
    )
    print("| hop | p50 ms | p95 ms |\n|---|---|---|")
    for hop in ("ingress_hop", "publish_to_delivery", "reply_hop"):
        print(f"| {hop} | {lat[hop]['p50_ms']} | {lat[hop]['p95_ms']} |")
    print(f"\nwritten to {args.out}")
    return 0


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _publish(client: redis.Redis, prefix: str, triggers: Any, event: Any) -> None:
    pipe = client.pipeline(transaction=True)
    publish(pipe, prefix, triggers, event)
    pipe.execute()


if __name__ == "__main__":
    sys.exit(main())
