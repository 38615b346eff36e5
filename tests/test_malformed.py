"""Every request of the generated corpus (tests/malformed_corpus.py) against the real service:
no 5xx, and every answer a strict-JSON document, in each API's own error shape."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Stack
from tests.malformed_corpus import RAW, Case, corpus


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} in an answer")


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


def test_no_malformed_request_gets_a_5xx_or_a_non_json_answer(stack: Stack) -> None:
    failures = []
    statuses: dict[int, int] = {}
    for case in corpus():
        status, body, content_type = send(stack.url, case)
        statuses[status] = statuses.get(status, 0) + 1
        wrong = problem(status, body, content_type)
        if wrong:
            failures.append(f"{case.what}: {wrong}")
    print(f"corpus answers by status: {dict(sorted(statuses.items()))}")
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
