"""The seed's documented answers, field for field (docs/api.md quotes them): a client written
against the seed's examples reads every field it expects, with the type it expects. Our
additions may sit beside them; nothing of the seed's may be missing or renamed.

The queued answer is the ingress's alone (in-process, `api`); health, load and results need the
services running (`stack`, tests/conftest.py)."""

from __future__ import annotations

import re
from typing import Any

import requests
from flask.testing import FlaskClient

from tests.conftest import Stack

# The seed's examples, field for field (docs/api.md lists the same fields).
HEALTH = {
    "status": "healthy",
    "timestamp": "2026-01-01T00:00:00.000Z",
    "redis": "connected",
    "queues": {"python-1": "healthy"},
}
LOAD = {
    "timestamp": "2026-01-01T00:00:00.000Z",
    "totalWaiting": 5,
    "totalActive": 3,
    "containers": [
        {
            "containerId": "python-1",
            "language": "python",
            "waiting": 2,
            "active": 1,
            "completed": 150,
            "failed": 2,
            "totalJobs": 155,
        }
    ],
}
QUEUED = {
    "id": "…",
    "status": "queued",
    "timestamp": "2026-01-01T00:00:00.000Z",
    "message": "Job queued on python-1",
}
RESULT = {
    "id": "…",
    "status": "completed",
    "timestamp": "…",
    "verdict": "wrong_answer",
    "output": "10\n6\n1",
    "error": "",
    "compileOutput": "",
    "executionTime": 150,
    "memoryKb": 9120,
    "testCases": [
        {
            "input": "5",
            "expected": "10",
            "actualOutput": "10",
            "passed": True,
            "verdict": "accepted",
            "executionTime": 45,
            "memoryKb": 9120,
        }
    ],
}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def missing(example: Any, actual: Any, where: str = "") -> list[str]:
    """Every place where `actual` lacks a field of `example` or has another JSON type there."""
    if isinstance(example, dict):
        if not isinstance(actual, dict):
            return [f"{where or 'body'}: an object expected, got {actual!r}"]
        problems = []
        for key, value in example.items():
            if key not in actual:
                problems.append(f"{where}{key}: missing")
            else:
                problems += missing(value, actual[key], f"{where}{key}.")
        return problems
    if isinstance(example, list):
        if not isinstance(actual, list) or not actual:
            return [f"{where}: a non-empty list expected, got {actual!r}"]
        return [p for item in actual for p in missing(example[0], item, where)]
    if type(example) is not type(actual):
        return [f"{where.rstrip('.')}: {type(example).__name__} expected, got {actual!r}"]
    return []


def test_missing_finds_what_a_seed_client_would_miss() -> None:
    """The comparison itself: a renamed field, a wrong type and a lost list entry are found."""
    assert missing(HEALTH, {**HEALTH, "queues": {"python-1": "healthy"}}) == []
    assert missing(HEALTH, {"status": "ok", "services": {}}) != []
    assert missing(LOAD, {**LOAD, "totalWaiting": "5"}) != []
    assert missing(LOAD, {**LOAD, "containers": []}) != []


def test_health_has_the_seeds_fields_and_values(stack: Stack) -> None:
    answer = requests.get(f"{stack.url}/health", timeout=10)
    body = answer.json()
    assert missing(HEALTH, body) == []
    assert answer.status_code == 200 and body["status"] == "healthy", body
    assert body["redis"] == "connected"
    assert body["queues"]["python-1"] == "healthy"
    assert set(body["queues"]) == {f"{language}-1" for language in body["languages"]}
    assert ISO.match(body["timestamp"])


def test_load_has_the_seeds_fields_and_sums(stack: Stack) -> None:
    stack.run({"language": "python", "code": "print(1)"})
    body = requests.get(f"{stack.url}/load", timeout=10).json()
    assert missing(LOAD, body) == []
    python = next(c for c in body["containers"] if c["containerId"] == "python-1")
    assert python["language"] == "python" and python["totalJobs"] >= 1
    assert python["completed"] >= 1
    assert body["totalWaiting"] == sum(c["waiting"] for c in body["containers"])
    assert body["totalActive"] == sum(c["active"] for c in body["containers"])
    assert ISO.match(body["timestamp"])


def test_the_queued_answer_names_where_the_job_was_queued(api: FlaskClient) -> None:
    for path in ("/api/execute", "/execute"):
        answer = api.post(path, json={"language": "python", "code": "print(1)"})
        assert answer.status_code == 202
        assert missing(QUEUED, answer.json) == []
        assert answer.json["message"] == "Job queued on python-1"
        assert answer.json["status"] == "queued"


def test_the_result_has_the_seeds_fields(stack: Stack) -> None:
    job = stack.run(
        {
            "language": "python",
            "code": "n = int(input())\nprint(n * 2)",
            "testCases": [{"input": "5", "expected": "10"}, {"input": "3", "expected": "7"}],
        }
    )
    assert missing(RESULT, job) == []
    assert job["verdict"] == "wrong_answer"
    for path in ("/api/result/", "/job/"):
        read = requests.get(f"{stack.url}{path}{job['id']}", timeout=10)
        assert missing(RESULT, read.json()) == []
    status = requests.get(f"{stack.url}/api/status/{job['id']}", timeout=10).json()
    assert {"id", "status", "timestamp"} <= set(status)
