"""One log format across the service: every line every Sentinel process wrote while the suite's
stack ran (gunicorn's own error and access lines included) is a JSON object with service,
level, timestamp and message; access lines carry the request id."""

from __future__ import annotations

import json

import requests

from tests.conftest import Stack

SERVICES = {"broker", "executor", "sink", "callbacks", "dispatcher", "ingress"}


def test_every_line_of_every_service_is_json_with_the_same_fields(stack: Stack) -> None:
    job = stack.run({"language": "python", "code": "print(1)"})
    requests.get(
        f"{stack.url}/job/{job['id']}", headers={"X-Request-Id": "logs-test-1"}, timeout=10
    )
    requests.get(f"{stack.url}/job/" + "x" * 5000, timeout=10)  # refused by gunicorn: 414
    seen: set[str] = set()
    bad = []
    for name in sorted(SERVICES):
        for number, line in enumerate((stack.log_dir / f"{name}.log").read_text().splitlines()):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                bad.append(f"{name}.log:{number + 1}: {line[:160]}")
                continue
            if not {"service", "level", "timestamp", "message"} <= set(entry):
                bad.append(f"{name}.log:{number + 1}: fields missing: {line[:160]}")
            seen.add(entry.get("service", ""))
    assert bad == [], "\n".join(bad[:30])
    assert {"ingress", "executor", "sink", "callbacks", "dispatcher", "broker"} <= seen
    ingress = (stack.log_dir / "ingress.log").read_text()
    assert '"requestid": "logs-test-1"' in ingress
    sink = [json.loads(line) for line in (stack.log_dir / "sink.log").read_text().splitlines()]
    access = [e for e in sink if e.get("logger") == "gunicorn.access"]
    assert access and all({"method", "path", "status", "ms"} <= set(e) for e in access)
