"""eventing/gworker.py's judgement of a buffered request: when it is whole, when to wait for
more, when the client waits for 100 Continue, and when the body is over the maximum."""

from __future__ import annotations

import pytest

from eventing.gworker import MAX_HEAD_BYTES, json_error, request_state

HEAD = b"POST /api/execute HTTP/1.1\r\nHost: s\r\n"
CAP = 1024


@pytest.mark.parametrize(
    ("buffer", "state"),
    [
        (b"", ("more", 0)),
        (b"GET / HTTP/1.1\r\nHost: s\r\n", ("more", 0)),  # the head is not over yet
        (b"GET / HTTP/1.1\r\nHost: s\r\n\r\n", ("ready", 0)),  # no body
        (HEAD + b"Content-Length: 4\r\n\r\n{}", ("more", 0)),
        (HEAD + b"Content-Length: 4\r\n\r\n{ }}", ("ready", 0)),
        (HEAD + b"content-length:4\r\n\r\n{ }}", ("ready", 0)),  # any case, no space
        (HEAD + b"Content-Length: 101\r\n\r\n", ("too large", 101)),
        (HEAD + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n", ("ready", 0)),  # parser's call
        (HEAD + b"Content-Length: 2000\r\n\r\n", ("too large", 2000)),
        (HEAD + b"Content-Length: 10\r\nExpect: 100-continue\r\n\r\n", ("expect", 0)),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n", ("more", 0)),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", ("ready", 0)),
        (b"GET /" + b"a" * MAX_HEAD_BYTES, ("ready", 0)),  # gunicorn answers 414
    ],
)
def test_request_state(buffer: bytes, state: tuple[str, int]) -> None:
    assert request_state(buffer, 100, CAP) == state


def test_without_a_maximum_a_body_too_big_to_buffer_goes_to_a_thread() -> None:
    assert request_state(HEAD + b"Content-Length: 5000\r\n\r\n", None, CAP) == ("ready", 0)
    assert request_state(HEAD + b"Content-Length: 50\r\n\r\n", None, CAP) == ("more", 0)


def test_json_error_is_a_whole_closing_answer() -> None:
    answer = json_error(408, "Request Timeout", 'slow "client"', limit=3)
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"Connection: close" in head and b"Content-Type: application/json" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert body == b'{"error": "Request Timeout", "message": "slow \\"client\\"", "limit": 3}'
