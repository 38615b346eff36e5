"""The dispatcher's HTTP client (eventing/delivery_http.py) against real sockets: a server in a
thread that answers as each test scripts it, byte for byte, and counts connections and requests.

What is shown: every framing of an answer is read (Content-Length, chunked with extensions and
trailers, interim 100, 204, a body ended by the close); connections are kept, and dropped when
the server says so, closes them while idle, or dies before answering on a reused one (then the
request is sent once more, never on a fresh one); every bound a subscriber could abuse holds; a
header that would smuggle another header is refused before anything is sent; TLS certificates
are verified.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest

from eventing import delivery_http
from eventing.delivery_http import HTTPFailure

# A handler answers one request: it gets the connection's socket and reader, the request's
# number on this connection (0 first), and returns False to close the connection after it.
Handler = Callable[[socket.socket, BinaryIO, int], bool]

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Server:
    """A loopback TCP server running `handler` for every request of every connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/deliver?x=1"
        self.connections = 0
        self.requests: list[bytes] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        try:
            for number in range(1000):
                head = _read_request(reader)
                if head is None:
                    return
                with self.lock:
                    self.requests.append(head)
                if not self.handler(sock, reader, number):
                    return
        except OSError:
            return
        finally:
            reader.close()
            sock.close()

    def close(self) -> None:
        self.listener.close()


def _read_request(reader: BinaryIO) -> bytes | None:
    """One request's head and body (None at the connection's end)."""
    lines = []
    while True:
        line = reader.readline()
        if not line:
            return None
        if line == b"\r\n":
            break
        lines.append(line)
    head = b"".join(lines)
    length = next(
        (int(h.split(b":")[1]) for h in lines if h.lower().startswith(b"content-length:")), 0
    )
    return head + b"\r\n" + reader.read(length)


@contextmanager
def serving(handler: Handler) -> Iterator[Server]:
    server = Server(handler)
    try:
        yield server
    finally:
        server.close()


def answers(*raw: bytes) -> Handler:
    """Answer the n-th request of a connection with raw[n], keeping the connection."""

    def handle(sock: socket.socket, reader: BinaryIO, number: int) -> bool:
        sock.sendall(raw[number])
        return True

    return handle


def post(client: delivery_http.Client, url: str, body: bytes = b"{}") -> delivery_http.Answer:
    return client.post(url, body, {"ce-type": "t", "content-type": "application/json"}, 5.0)


def test_every_framing_of_an_answer_is_read_on_one_kept_connection() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCe-Type: reply\r\n\r\n"
        b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-One: x\r\n\r\n"
    )
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + OK
    no_content = b"HTTP/1.1 204 No Content\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
    with serving(answers(OK, chunked, interim, no_content, OK)) as server:
        client = delivery_http.Client(1024)
        got = [post(client, server.url) for _ in range(5)]
        assert [(a.status, a.body) for a in got] == [
            (200, b"ok"),
            (200, b"hello world"),
            (200, b"ok"),
            (204, b""),
            (200, b"ok"),
        ]
        assert got[1].headers["ce-type"] == "reply"  # names lower-cased
        assert got[3].headers["x-a"] == "1, 2"
        assert server.connections == 1
        first = server.requests[0]
        assert first.startswith(b"POST /deliver?x=1 HTTP/1.1\r\n")
        assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in first
        assert b"Content-Length: 2\r\n" in first and first.endswith(b"\r\n\r\n{}")


def test_connections_the_server_will_not_keep_are_not_reused() -> None:
    close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    old = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
    old_kept = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"

    def until_close(sock: socket.socket, reader: BinaryIO, number: int) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\n\r\nthe body ends with the connection")
        return False

    for first, expected in ((close, 2), (old, 2), (old_kept, 1)):
        with serving(answers(first, OK)) as server:
            client = delivery_http.Client(1024)
            assert post(client, server.url).body == b"ok"
            assert post(client, server.url).body == b"ok"
            assert server.connections == expected, first
    with serving(until_close) as server:
        client = delivery_http.Client(1024)
        assert post(client, server.url).body == b"the body ends with the connection"
        assert post(client, server.url).status == 200
        assert server.connections == 2


def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    def answer_then_hang_up(sock: socket.socket, reader: BinaryIO, number: int) -> bool:
        sock.sendall(OK)
        time.sleep(0.1)
        return False  # as gunicorn does once its keep-alive time is over

    with serving(answer_then_hang_up) as server:
        client = delivery_http.Client(1024)
        assert post(client, server.url).body == b"ok"
        time.sleep(0.5)
        assert post(client, server.url).body == b"ok"
        assert (server.connections, len(server.requests)) == (2, 2)


def test_a_reused_connection_that_dies_unanswered_is_tried_once_more_a_fresh_one_never() -> None:
    def second_unanswered(sock: socket.socket, reader: BinaryIO, number: int) -> bool:
        if number == 0:
            sock.sendall(OK)
            return True
        return False  # read the request, then closed without a byte of answer

    with serving(second_unanswered) as server:
        client = delivery_http.Client(1024)
        assert post(client, server.url).body == b"ok"
        # The server hangs up on the second request of every connection: the retry on a new
        # connection is that connection's first request, answered.
        assert post(client, server.url).body == b"ok"
        assert (server.connections, len(server.requests)) == (2, 3)

    with serving(lambda sock, reader, number: False) as server:
        with pytest.raises(HTTPFailure) as failure:
            post(delivery_http.Client(1024), server.url)
        assert failure.value.kind == "ConnectionError" and failure.value.retryable
        assert (server.connections, len(server.requests)) == (1, 1)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2048\r\n\r\n" + b"x" * 2048,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"200\r\n"
        + b"x" * 512
        + b"\r\n"
        + b"200\r\n"
        + b"x" * 512
        + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 2048,
    ],
    ids=["content-length", "chunked", "until-close"],
)
def test_an_answer_over_the_bound_is_refused_for_good(answer: bytes) -> None:
    def send(sock: socket.socket, reader: BinaryIO, number: int) -> bool:
        sock.sendall(answer)
        return False

    with serving(send) as server, pytest.raises(HTTPFailure) as failure:
        post(delivery_http.Client(1000), server.url)
    assert "larger than 1000 bytes" in str(failure.value)
    assert not failure.value.retryable


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    ],
    ids=["101-headers", "long-header", "bad-length", "not-http", "bad-status", "cut-body"],
)
def test_a_malformed_answer_is_a_protocol_error(answer: bytes) -> None:
    def send(sock: socket.socket, reader: BinaryIO, number: int) -> bool:
        sock.sendall(answer)
        return False

    with serving(send) as server, pytest.raises(HTTPFailure) as failure:
        post(delivery_http.Client(1 << 20), server.url)
    assert failure.value.kind == "ProtocolError", failure.value


def test_a_subscriber_that_never_answers_times_out() -> None:
    def hang(sock: socket.socket, reader: BinaryIO, number: int) -> bool:
        time.sleep(10)
        return False

    with serving(hang) as server:
        started = time.monotonic()
        with pytest.raises(HTTPFailure) as failure:
            delivery_http.Client(1024).post(server.url, b"{}", {}, 0.3)
        assert time.monotonic() - started < 5  # the timeout's, not the server's 10 s
    assert failure.value.kind == "Timeout" and failure.value.retryable


def test_a_refused_connection_is_a_connection_error() -> None:
    with pytest.raises(HTTPFailure) as failure:
        delivery_http.Client(1024).post("http://127.0.0.1:9/", b"{}", {}, 2.0)
    assert failure.value.kind == "ConnectionError" and failure.value.retryable


@pytest.mark.parametrize(
    "headers",
    [
        {"ce-subject": "job\r\nX-Injected: 1"},
        {"ce-subject": "job\nX-Injected: 1"},
        {"ce-subject": "job\x00"},
        {"ce-sub\r\nject": "job"},
        {"ce:subject": "job"},
        {"ce-subject": "\u0100"},
    ],
    ids=["crlf", "lf", "nul", "name-crlf", "name-colon", "not-latin-1"],
)
def test_a_header_that_could_smuggle_another_is_refused_before_anything_is_sent(
    headers: dict[str, str],
) -> None:
    with serving(answers(OK)) as server:
        with pytest.raises(HTTPFailure) as failure:
            delivery_http.Client(1024).post(server.url, b"{}", headers, 2.0)
        assert failure.value.kind == "ProtocolError" and not failure.value.retryable
        assert server.connections == 0


def test_each_thread_keeps_its_own_connection() -> None:
    def slow(sock: socket.socket, reader: BinaryIO, number: int) -> bool:
        time.sleep(0.05)
        sock.sendall(OK)
        return True

    with serving(slow) as server:
        client = delivery_http.Client(1024)
        results: list[bytes] = []

        def three() -> None:
            results.extend(post(client, server.url).body for _ in range(3))

        threads = [threading.Thread(target=three) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [b"ok"] * 6
        assert (server.connections, len(server.requests)) == (2, 6)


def test_tls_subscribers_must_show_a_trusted_certificate(tmp_path: Path) -> None:
    """A self-signed certificate is refused: the system's trust store and host names are
    checked, so an https:// subscriber cannot be impersonated."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def handshake() -> None:
        sock, _ = listener.accept()
        with contextlib.suppress(OSError), context.wrap_socket(sock, server_side=True) as tls:
            tls.sendall(OK)  # never reached: the client gives up in the handshake
        sock.close()

    thread = threading.Thread(target=handshake, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/"
    with pytest.raises(HTTPFailure) as failure:
        delivery_http.Client(1024).post(url, b"{}", {}, 5.0)
    thread.join(5)
    listener.close()
    assert failure.value.kind == "ConnectionError"
    assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
