"""Every request of the generated corpus (tests/malformed_corpus.py): no 5xx, and every answer a
strict-JSON document, in each API's own error shape.

The corpus goes to the ingress in-process (`api`, tests/conftest.py), except the requests whose
answer waits for an executor's result (Piston's execute, `?wait=true`): those, and the raw
exchanges that the HTTP server (gunicorn, eventing/gworker.py) refuses before the app sees them,
go to the started `stack`."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from tests.conftest import Stack
from tests.malformed_corpus import RAW, Case, corpus


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} in an answer")


def waits_for_a_result(case: Case) -> bool:
    """Whether the answer to `case`, when it is valid, waits for the job to finish (so only a
    stack with executors answers it in time)."""
    return case.path.startswith("/api/v2/execute") or "wait=true" in case.path


def answer_in_process(api: FlaskClient, case: Case) -> tuple[int, bytes, str]:
    """(status, body, content type) of one request, through the app's WSGI interface."""
    answer = api.open(case.path, method=case.method, headers=list(case.headers), data=case.body)
    return answer.status_code, answer.get_data(), answer.content_type or ""


def send(url: str, case: Case) -> tuple[int, bytes, str]:
    """(status, body, content type) of one request, on a connection of its own."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.putrequest(case.method, case.path, skip_accept_encoding=True)
        for name, value in case.headers:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(case.body)))
        conn.endheaders(case.body)
        answer = conn.getresponse()
        return answer.status, answer.read(), answer.getheader("Content-Type", "")
    finally:
        conn.close()


def problem(status: int, body: bytes, content_type: str) -> str | None:
    """What is wrong with an answer to a malformed request, or None."""
    if status >= 500:
        return f"{status} {body[:200]!r}"
    if "json" not in content_type:
        return f"{status} not JSON ({content_type}): {body[:120]!r}"
    try:
        json.loads(body, parse_constant=_no_constants)
    except ValueError as exc:
        return f"{status} invalid JSON ({exc}): {body[:120]!r}"
    return None


def test_the_corpus_is_large_and_covers_every_endpoint() -> None:
    cases = corpus()
    assert len(cases) > 1000
    for endpoint in ("/api/execute", "/execute", "/api/execute/batch", "/events", "/judge0/"):
        assert any(case.path.startswith(endpoint) for case in cases), endpoint
    assert any(case.path.startswith("/api/v2/execute") for case in cases)
    assert any(case.path.startswith("/job/") for case in cases)


def test_the_corpus_is_split_between_in_process_and_the_stack() -> None:
    """Most of it needs no executor; what does is a small part, and every API is in-process."""
    cases = corpus()
    waiting = [case for case in cases if waits_for_a_result(case)]
    assert 0 < len(waiting) < len(cases) // 5
    for endpoint in ("/api/execute", "/execute", "/api/execute/batch", "/events", "/judge0/"):
        assert any(
            case.path.startswith(endpoint) and not waits_for_a_result(case) for case in cases
        ), endpoint


def _failures(cases: list[Case], answer: Any) -> list[str]:
    failures = []
    statuses: dict[int, int] = {}
    for case in cases:
        status, body, content_type = answer(case)
        statuses[status] = statuses.get(status, 0) + 1
        wrong = problem(status, body, content_type)
        if wrong:
            failures.append(f"{case.what}: {wrong}")
    print(f"corpus answers by status: {dict(sorted(statuses.items()))}")
    return failures


def test_no_malformed_request_gets_a_5xx_or_a_non_json_answer(api: FlaskClient) -> None:
    cases = [case for case in corpus() if not waits_for_a_result(case)]
    failures = _failures(cases, lambda case: answer_in_process(api, case))
    assert failures == [], f"{len(failures)} bad answers:\n" + "\n".join(failures[:60])


def test_no_malformed_request_that_would_wait_gets_a_5xx_or_a_non_json_answer(
    stack: Stack,
) -> None:
    cases = [case for case in corpus() if waits_for_a_result(case)]
    failures = _failures(cases, lambda case: send(stack.url, case))
    assert failures == [], f"{len(failures)} bad answers:\n" + "\n".join(failures[:60])


def send_raw(url: str, raw: bytes) -> tuple[int, bytes, str]:
    """(status, body, content type) of a raw HTTP/1.1 exchange that the server closes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return status, body, headers.get("Content-Type", "")


@pytest.mark.parametrize("name", sorted(RAW))
def test_what_gunicorn_refuses_is_answered_in_json_too(stack: Stack, name: str) -> None:
    status, body, content_type = send_raw(stack.url, RAW[name])
    assert problem(status, body, content_type) is None, (status, body)
    assert 400 <= status < 500, (status, body)
