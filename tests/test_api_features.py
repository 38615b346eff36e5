"""The public API past the basics: waiting, progress, batches, CloudEvents in, request ids,
size limits, the OpenAPI document and metrics. What needs an executor's result goes through real
HTTP against the `stack`; refusals, the document and the metrics' labels are the ingress's alone
and asked in-process (`api`, tests/conftest.py)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from flask.testing import FlaskClient

from eventing import contract
from tests.conftest import Stack

DOUBLE = "print(int(input()) * 2)"


def test_wait_true_answers_the_finished_result(stack: Stack) -> None:
    answer = requests.post(
        f"{stack.url}/api/execute?wait=true",
        json={"language": "python", "code": DOUBLE, "input": "21"},
        timeout=40,
    )
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "completed" and job["output"] == "42\n"
    assert job == requests.get(f"{stack.url}/job/{job['id']}", timeout=10).json()


def test_wait_gives_up_after_its_timeout_with_the_usual_202(stack: Stack) -> None:
    started = time.monotonic()
    answer = requests.post(
        f"{stack.url}/execute?wait=1&timeout=0.5",
        json={"language": "python", "code": "import time\ntime.sleep(3)"},
        timeout=40,
    )
    waited = time.monotonic() - started
    assert answer.status_code == 202
    assert set(answer.json()) == {"id", "status", "timestamp", "message"}
    assert waited >= 0.5
    assert stack.wait(answer.json()["id"])["status"] == "completed"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("wait=maybe", "wait"),
        ("wait=true&timeout=0", "timeout"),
        ("wait=true&timeout=31", "timeout"),
        ("wait=true&timeout=soon", "timeout"),
    ],
)
def test_bad_wait_parameters_get_400(api: FlaskClient, query: str, field: str) -> None:
    answer = api.post(f"/api/execute?{query}", json={"language": "python", "code": "1"})
    assert answer.status_code == 400
    assert answer.json["field"] == field


def test_status_reports_progress_over_test_cases(stack: Stack) -> None:
    cases = [{"input": str(n), "expected": str(2 * n)} for n in range(3)]
    queued = stack.submit(
        {"language": "python", "code": "import time; time.sleep(1)\n" + DOUBLE, "testCases": cases}
    )
    early = requests.get(f"{stack.url}/api/status/{queued['id']}", timeout=10).json()
    assert early["status"] in ("queued", "running")
    assert early["progress"] == {"completed": 0, "total": 3}
    stack.wait(queued["id"])
    done = requests.get(f"{stack.url}/api/status/{queued['id']}", timeout=10).json()
    assert done["progress"] == {"completed": 3, "total": 3}
    assert done["verdict"] == "accepted"


def test_api_result_serves_both_result_shapes(stack: Stack) -> None:
    single = stack.run({"language": "python", "code": DOUBLE, "input": "2"})
    cases = stack.run(
        {"language": "python", "code": DOUBLE, "testCases": [{"input": "2", "expected": "4"}]}
    )
    for job in (single, cases):
        result = requests.get(f"{stack.url}/api/result/{job['id']}", timeout=10).json()
        assert result == job
    assert "testCases" not in single and single["output"] == "4\n"
    assert cases["testCases"][0]["passed"] is True


def test_batch_queues_the_valid_and_names_the_invalid(stack: Stack) -> None:
    answer = requests.post(
        f"{stack.url}/api/execute/batch",
        json={
            "submissions": [
                {"language": "python", "code": "print('a')"},
                {"language": "python"},
                {"language": "cobol", "code": "x"},
                {"language": "python", "code": "print('b')"},
            ]
        },
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["queued"], body["rejected"]) == (2, 2)
    first, missing, cobol, last = body["jobs"]
    assert missing == {**missing, "index": 1, "status": "rejected", "code": 400}
    assert missing["field"] == "submissions.1.code"
    assert cobol["field"] == "submissions.2.language"
    assert [first["index"], last["index"]] == [0, 3]
    assert stack.wait(first["id"])["output"] == "a\n"
    assert stack.wait(last["id"])["output"] == "b\n"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "submissions"),
        ({"submissions": []}, "submissions"),
        ({"submissions": {"a": 1}}, "submissions"),
        ({"submissions": [{"language": "python", "code": "1"}], "more": 1}, "more"),
        ({"submissions": [{"language": "python", "code": "1"}] * 21}, "submissions"),
    ],
)
def test_an_invalid_batch_gets_400(api: FlaskClient, body: dict[str, object], field: str) -> None:
    answer = api.post("/api/execute/batch", json=body)
    assert answer.status_code == 400
    assert answer.json["field"] == field


def test_a_batch_with_nothing_valid_gets_400_with_every_reason(api: FlaskClient) -> None:
    answer = api.post("/api/execute/batch", json={"submissions": [{"code": "x"}, 5]})
    assert answer.status_code == 400
    fields = [job["field"] for job in answer.json["jobs"]]
    assert fields == ["submissions.0.language", "submissions.1"]


def _requested(data: object, event_id: str | None = None) -> dict[str, object]:
    return {
        "specversion": "1.0",
        "type": contract.REQUESTED,
        "source": "/tests/pipeline",
        "id": event_id or str(uuid.uuid4()),
        "datacontenttype": "application/json",
        "data": data,
    }


def test_events_takes_a_structured_cloudevent(stack: Stack) -> None:
    event = _requested({"language": "python", "code": DOUBLE, "input": "4"})
    answer = requests.post(
        f"{stack.url}/events",
        data=json.dumps(event),
        headers={"Content-Type": "application/cloudevents+json"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    assert stack.wait(answer.json()["id"])["output"] == "8\n"


def _binary_headers(source: str) -> dict[str, str]:
    """The headers of a binary-mode requested event with a new id."""
    return {
        "ce-specversion": "1.0",
        "ce-type": contract.REQUESTED,
        "ce-source": source,
        "ce-id": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }


def test_events_takes_a_binary_cloudevent_and_deduplicates_redelivery(stack: Stack) -> None:
    headers = _binary_headers("/tests/pipeline")
    body = json.dumps({"language": "python", "code": "print('bin')"})
    first = requests.post(f"{stack.url}/events", data=body, headers=headers, timeout=10)
    again = requests.post(f"{stack.url}/events", data=body, headers=headers, timeout=10)
    assert first.status_code == again.status_code == 202, first.text
    assert first.json()["id"] == again.json()["id"]
    assert stack.wait(first.json()["id"])["output"] == "bin\n"


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({**_requested({"language": "python", "code": "1"}), "type": "com.example.other"}, "type"),
        (_requested({"language": "python"}), "data.code"),
        (_requested({"language": "python", "code": "1", "id": "mine"}), "data.id"),
        (_requested("print(1)"), "data"),
    ],
)
def test_events_refuses_what_is_not_a_valid_request(
    api: FlaskClient, event: dict[str, object], field: str
) -> None:
    answer = api.post(
        "/events",
        data=json.dumps(event),
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert answer.status_code == 400
    assert answer.json["field"] == field


def test_events_refuses_a_body_that_is_no_event(api: FlaskClient) -> None:
    answer = api.post("/events", json={"language": "python"})
    assert answer.status_code == 400
    assert "CloudEvent" in answer.json["error"]


def test_the_request_id_is_answered_and_reaches_the_executor_logs(stack: Stack) -> None:
    request_id = f"test-{uuid.uuid4().hex}"
    answer = requests.post(
        f"{stack.url}/api/execute",
        json={"language": "python", "code": "print(1)"},
        headers={"X-Request-Id": request_id},
        timeout=10,
    )
    assert answer.headers["X-Request-Id"] == request_id
    stack.wait(answer.json()["id"])
    lines = [
        json.loads(line)
        for line in (stack.log_dir / "executor.log").read_text().splitlines()
        if request_id in line
    ]
    assert any(line.get("requestid") == request_id for line in lines), lines
    made_up = requests.get(
        f"{stack.url}/languages", headers={"X-Request-Id": "bad id!"}, timeout=10
    )
    assert len(made_up.headers["X-Request-Id"]) == 32


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"code": "#" * (256 * 1024 + 1)}, "code"),
        ({"input": "x" * (256 * 1024 + 1)}, "input"),
        ({"testCases": [{"input": ""}] * 101}, "testCases"),
        (
            {"testCases": [{"input": "", "expected": "y" * (256 * 1024 + 1)}]},
            "testCases.0.expected",
        ),
    ],
)
def test_size_limits_get_400_naming_the_field(
    api: FlaskClient, extra: dict[str, object], field: str
) -> None:
    body = {"language": "python", "code": "print(1)", **extra}
    answer = api.post("/api/execute", json=body)
    assert answer.status_code == 400
    assert answer.json["field"] == field
    assert answer.json["limit"] > 0


def test_openapi_describes_every_route(api: FlaskClient) -> None:
    document = api.get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    expected = {
        "/api/execute",
        "/execute",
        "/api/execute/batch",
        "/events",
        "/job/{id}",
        "/api/result/{id}",
        "/api/status/{id}",
        "/health",
        "/load",
        "/languages",
        "/api/languages",
        "/openapi.json",
        "/metrics",
    }
    assert set(document["paths"]) == expected
    submission = document["components"]["schemas"]["SubmissionRequest"]
    assert {"code", "language", "testCases", "callbackUrl"} <= set(submission["properties"])


def test_metrics_count_requests_and_show_backlogs(stack: Stack) -> None:
    stack.run({"language": "python", "code": "print(1)"})
    answer = requests.get(f"{stack.url}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    text = answer.text
    assert 'sentinel_http_requests_total{method="POST",route="/api/execute",status="202"}' in text
    assert 'sentinel_jobs_submitted_total{language="python"}' in text
    assert 'sentinel_trigger_backlog{language="python",trigger="execute-python"}' in text
    assert "sentinel_dispatcher_up 1.0" in text


def test_unknown_methods_and_paths_add_no_metric_series(api: FlaskClient) -> None:
    """Methods a stranger invents all count as OTHER, and paths as their route (or unmatched):
    /metrics has as many series after 40 made-up requests as after the first."""

    def series() -> set[str]:
        text = api.get("/metrics").get_data(as_text=True)
        return {
            line.split(" ")[0] for line in text.splitlines() if line.startswith("sentinel_http")
        }

    api.open("/nowhere-0", method="XMETHOD0")
    api.get("/job/made-up-0")
    series()  # /metrics itself is counted once it has answered
    before = series()
    for index in range(1, 21):
        api.open(f"/nowhere-{index}", method=f"XMETHOD{index}")
        api.get(f"/job/made-up-{index}")
    after = series()
    assert after == before
    assert any('method="OTHER"' in line and 'route="unmatched"' in line for line in after)


def test_one_event_posted_16_times_at_once_makes_exactly_one_job(stack: Stack) -> None:
    """Concurrent deliveries of one event (same source and id) race for one claim in Redis:
    every answer names the same job, and the job store counted one job, not several."""
    headers = _binary_headers("/tests/race")
    body = json.dumps({"language": "python", "code": "print('once')"})

    def total() -> int:
        load = requests.get(f"{stack.url}/load", timeout=10).json()
        return int(load["languages"]["python"]["totalJobs"])

    before = total()
    barrier = threading.Barrier(16)

    def post(_: int) -> requests.Response:
        barrier.wait()
        return requests.post(f"{stack.url}/events", data=body, headers=headers, timeout=10)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(post, range(16)))
    assert {a.status_code for a in answers} == {202}
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    assert stack.wait(ids.pop())["output"] == "once\n"
    assert total() == before + 1


def test_a_huge_result_is_stored_truncated_and_flagged(stack: Stack) -> None:
    """The issue's 458-byte request: 20 cases printing 1 MB each under outputKb 1024 stored a
    42 MB record; now the stored result is at most 2 MiB and says it was cut."""
    job = stack.run(
        {
            "language": "python",
            "code": "import sys\nsys.stdout.write('x' * 1_000_000)",
            "testCases": [{"input": str(i), "expected": "y"} for i in range(20)],
            "limits": {"outputKb": 1024},
        },
        timeout_s=120,
    )
    assert job["status"] == "completed" and job["truncated"] is True
    assert job["verdict"] == "wrong_answer"
    assert [case["verdict"] for case in job["testCases"]] == ["wrong_answer"] * 20
    assert job["testCases"][0]["actualOutput"].endswith("[truncated]")
    assert len(json.dumps(job).encode()) <= 2 * 1024 * 1024 + 4096
