"""What the API answers to bad input: 4xx with a JSON message naming the field, never a 500.

What the ingress alone decides is asked in-process (`api`); the 413 that the HTTP server's
worker answers, and what needs the services running (health, executors' versions, a finished
job), through the started `stack` (tests/conftest.py)."""

from __future__ import annotations

import pytest
import requests
from flask.testing import FlaskClient

from tests.conftest import Stack


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "python"}, "code"),
        ({"code": "print(1)"}, "language"),
        ({"code": "", "language": "python"}, "code"),
        ({"code": 5, "language": "python"}, "code"),
        ({"code": "x", "language": ["python"]}, "language"),
        ({"code": "x", "language": "python", "input": 5}, "input"),
        ({"code": "x", "language": "python", "testCases": "nope"}, "testCases"),
        ({"code": "x", "language": "python", "testCases": []}, "testCases"),
        ({"code": "x", "language": "python", "testCases": [{"input": 1}]}, "testCases.0.input"),
        ({"code": "x", "language": "python", "limits": {"cpuTimeMs": -1}}, "limits.cpuTimeMs"),
        ({"code": "x", "language": "python", "surprise": 1}, "surprise"),
        ({"code": "x", "language": "cobol"}, "language"),
    ],
)
def test_invalid_submissions_get_400_naming_the_field(
    api: FlaskClient, body: dict[str, object], field: str
) -> None:
    answer = api.post("/api/execute", json=body)
    assert answer.status_code == 400
    assert answer.json["field"] == field
    assert answer.json["error"]


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_gets_400(api: FlaskClient, raw: bytes) -> None:
    answer = api.post("/api/execute", data=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert "JSON" in answer.json["error"]


def test_an_oversized_body_gets_a_413_the_client_can_read(stack: Stack) -> None:
    """The worker drains the body (eventing/gworker.py) before answering, so a client that sends
    all of its 6 MB before reading gets the 413, not a reset connection."""
    answer = requests.post(
        f"{stack.url}/api/execute",
        json={"language": "python", "code": "#" * (6 * 1024 * 1024)},
        timeout=30,
    )
    assert answer.status_code == 413
    assert answer.json()["limit"] == 1024 * 1024
    assert "maximum" in answer.json()["message"]


@pytest.mark.parametrize("path", ["/job/", "/api/result/", "/api/status/"])
def test_an_unknown_job_gets_404_with_a_message(api: FlaskClient, path: str) -> None:
    answer = api.get(f"{path}no-such-job")
    assert answer.status_code == 404
    assert "no-such-job" in answer.json["error"]


def test_unknown_routes_and_methods_answer_json(api: FlaskClient) -> None:
    assert api.get("/nowhere").json["error"] == "Not Found"
    wrong = api.get("/api/execute")
    assert wrong.status_code == 405 and wrong.json["error"]


def test_health_reports_redis_dispatcher_and_services(stack: Stack) -> None:
    answer = requests.get(f"{stack.url}/health", timeout=10)
    assert answer.status_code == 200
    services = answer.json()["services"]
    assert services["redis"]["status"] == "ok"
    assert services["dispatcher"]["status"] == "ok"
    assert len(services) == 5  # redis, dispatcher, executor, sink, callbacks
    assert all(check["status"] == "ok" for check in services.values())
    python = answer.json()["languages"]["python"]
    assert python["status"] == "ok" and python["executor"] in services
    assert answer.json()["status"] == "healthy"


@pytest.mark.parametrize("path", ["/languages", "/api/languages"])
def test_languages_lists_python_with_its_real_version(stack: Stack, path: str) -> None:
    answer = requests.get(f"{stack.url}{path}", timeout=10).json()
    assert answer["count"] == len(answer["languages"]) >= 1
    python = next(entry for entry in answer["languages"] if entry["name"] == "python")
    assert python["version"].startswith("Python 3.")
    assert python["displayName"] and python["example"]


def test_status_endpoint_shows_the_life_of_a_job(stack: Stack) -> None:
    job = stack.run({"language": "python", "code": "print(1)"})
    status = requests.get(f"{stack.url}/api/status/{job['id']}", timeout=10).json()
    assert status["status"] == "completed"
    assert status["verdict"] == "accepted"
    assert "output" not in status
