"""The gunicorn worker of every Sentinel HTTP service: gthread, made safe against slow clients.

gunicorn's gthread worker gives a connection to a thread as soon as it is readable, and the
thread then blocks reading the request for as long as the client takes: 64 clients sending a
header every 2 s held all 64 threads of the ingress, and every other client waited (measured
before this worker). This worker reads each request whole in its event loop first, without
blocking, and only a complete request reaches a thread; so a slow or silent client costs a
buffer, never a thread:

- a request (head and body) must arrive within SENTINEL_READ_TIMEOUT_S of its first byte (or of
  the accept), else a JSON 408 and the connection is closed;
- a client (socket peer address) holds at most `max_per_client` connections at once per worker
  process; one more gets a JSON 429 at accept (0: no bound, for the internal services, whose
  one client is the dispatcher);
- a body declared larger than `max_body` is drained (up to DRAIN_BYTES) and answered with a
  JSON 413 the client can read, instead of a reset while it is still sending;
- gunicorn's own refusals (414 request line, 431 headers, 400 syntax) are JSON too, not HTML;
- in a thread, SO_RCVTIMEO and SO_SNDTIMEO bound what is still read or written (a body too large
  to buffer, a client that never reads its answer).

Configured through the environment by eventing/wsgi.py (serve), which names this class
(eventing/serving_settings.py).
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import selectors
import socket
import struct
import time
from collections import Counter, deque
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import TConn, ThreadWorker

from eventing.serving_settings import ServingSettings, WorkerSettings

# What the request line and headers may take in all (gunicorn's own limits then apply).
MAX_HEAD_BYTES = 64 * 1024
# Bodies up to this size are buffered whole when the service sets no maximum of its own.
DEFAULT_BUFFER_BYTES = 8 * 1024 * 1024
# An over-sized body is read and thrown away up to this much, so the client reads its 413.
DRAIN_BYTES = 16 * 1024 * 1024
# A thread writing an answer to a client that does not read it gives up after this long.
SEND_TIMEOUT_S = 30.0

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*(\d{1,18})[ \t]*(?=\r\n)", re.I)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding[ \t]*:[^\r\n]*chunked", re.I)
_EXPECT = re.compile(rb"\r\nexpect[ \t]*:", re.I)


def json_error(status: int, reason: str, message: str, **extra: Any) -> bytes:
    """A whole HTTP/1.1 answer with a JSON body (`error` and `message`, which the native API,
    Judge0 and Piston clients each read) that closes the connection."""
    body = json.dumps({"error": reason, "message": message, **extra}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _write_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's util.write_error, answering JSON instead of an HTML page. Its one 5xx for
    what a client sent (501 for a transfer coding it does not know) becomes a 400: every error
    a client can cause is a 4xx here."""
    if status_int == 501:
        status_int, reason = 400, "Bad Request"
    util.write_nonblock(sock, json_error(status_int, reason, mesg))


def request_state(buffer: bytes, max_body: int | None, buffer_cap: int) -> tuple[str, int]:
    """Where a buffered request stands: ("more", 0) to keep reading; ("ready", 0) when it is
    whole (or cannot be judged here: gunicorn's parser then answers it); ("expect", 0) when the
    client waits for 100 Continue; ("too large", length) when its body exceeds `max_body`."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return ("more", 0) if len(buffer) < MAX_HEAD_BYTES else ("ready", 0)
    head = buffer[: end + 2]
    have = len(buffer) - end - 4
    if _CHUNKED.search(head):
        done = buffer.endswith(b"0\r\n\r\n") and have >= 5
        return ("ready", 0) if done or have >= buffer_cap else ("more", 0)
    lengths = _CONTENT_LENGTH.findall(head)
    if len(lengths) != 1:
        return "ready", 0  # none (no body), or several: gunicorn's parser decides
    length = int(lengths[0])
    if max_body is not None and length > max_body:
        return "too large", length
    if have >= length or length > buffer_cap:
        return "ready", 0
    if _EXPECT.search(head):
        return "expect", 0
    return "more", 0


class _Conn(TConn):  # type: ignore[misc]
    """A connection with the bytes read for its next request, and a release on close."""

    def __init__(self, *args: Any, release: Any = None) -> None:
        super().__init__(*args)
        self.buffer = bytearray()
        self.deadline = 0.0
        self.discard = 0  # bytes of an over-sized body still to drain
        self.too_large = 0
        self._release = release

    def close(self, graceful: bool = False) -> None:
        release, self._release = self._release, None
        if release is not None:
            release(self)
        super().close(graceful)


class SentinelWorker(ThreadWorker):  # type: ignore[misc]
    """gthread with whole-request buffering, read deadlines, per-client bounds and JSON errors."""

    def init_process(self) -> None:
        util.write_error = _write_error
        self.read_timeout = ServingSettings.from_env().read_timeout_s
        worker = WorkerSettings.from_env()
        self.max_per_client = worker.max_per_client
        self.max_body = worker.max_body_bytes
        self.buffer_cap = (
            self.max_body + MAX_HEAD_BYTES if self.max_body is not None else DEFAULT_BUFFER_BYTES
        )
        self.per_client: Counter[str] = Counter()
        self.reading: deque[_Conn] = deque()  # ordered by deadline (one timeout for all)
        super().init_process()

    # --- connections in and out -------------------------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        peer = client[0] if isinstance(client, tuple) else ""
        if self.max_per_client and self.per_client[peer] >= self.max_per_client:
            self.log.warning(f"refused a connection from {peer}: {self.max_per_client} open")
            with_limit = f"at most {self.max_per_client} connections at once per client"
            _send_and_close(sock, json_error(429, "Too Many Requests", with_limit))
            return
        self.nr_conns += 1
        self.per_client[peer] += 1
        conn = _Conn(self.cfg, sock, client, listener.getsockname(), release=self._release)
        self._read_request(conn)

    def _release(self, conn: _Conn) -> None:
        peer = _peer(conn)
        self.per_client[peer] -= 1
        if self.per_client[peer] <= 0:
            del self.per_client[peer]

    def on_client_socket_readable(self, conn: _Conn, client: socket.socket) -> None:
        """A kept-alive connection's next request: buffered like the first."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_request(conn)

    # --- buffering in the event loop --------------------------------------------------------

    def _read_request(self, conn: _Conn) -> None:
        conn.sock.setblocking(False)
        conn.deadline = time.monotonic() + self.read_timeout
        self.reading.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn: _Conn, sock: socket.socket) -> None:
        try:
            chunk = sock.recv(256 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._finish_reading(conn)
            self.nr_conns -= 1
            conn.close()
            return
        if conn.discard or conn.too_large:
            conn.discard -= min(conn.discard, len(chunk))
            if conn.discard == 0:
                self._answer_too_large(conn)
            return
        conn.buffer += chunk
        state, length = request_state(bytes(conn.buffer), self.max_body, self.buffer_cap)
        if state == "too large":
            end = conn.buffer.find(b"\r\n\r\n") + 4
            conn.too_large = length
            conn.discard = max(0, min(length, DRAIN_BYTES) - (len(conn.buffer) - end))
            conn.buffer.clear()
            if conn.discard == 0:
                self._answer_too_large(conn)
        elif state in ("ready", "expect"):
            self._finish_reading(conn)
            self._hand_over(conn)

    def _finish_reading(self, conn: _Conn) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        with contextlib.suppress(ValueError):
            self.reading.remove(conn)

    def _hand_over(self, conn: _Conn) -> None:
        """The request is whole: a thread parses it from the buffer, as if read from the socket."""
        conn.sock.setblocking(True)
        conn.init()
        conn.parser.unreader.unread(bytes(conn.buffer))
        conn.buffer.clear()
        conn.data_ready = True
        seconds = struct.pack("ll", int(self.read_timeout), 0)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, seconds)
        sending = struct.pack("ll", int(SEND_TIMEOUT_S), 0)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, sending)
        self.enqueue_req(conn)

    def _answer_too_large(self, conn: _Conn) -> None:
        message = f"the body ({conn.too_large} bytes) is over the maximum of {self.max_body}"
        self.log.info(f"413 to {_peer(conn)}: {message}")
        self._close_with(conn, json_error(413, "Payload Too Large", message, limit=self.max_body))

    def _close_with(self, conn: _Conn, answer: bytes) -> None:
        """Answer from the event loop and close (the request never reached a thread)."""
        self._finish_reading(conn)
        self.nr_conns -= 1
        _send_and_close(conn.sock, answer)
        conn.close()

    def murder_pending(self) -> None:
        """gthread's own sweep, then the requests whose deadline passed: a JSON 408 (or the
        413 of a body still being drained)."""
        super().murder_pending()
        now = time.monotonic()
        while self.reading and self.reading[0].deadline <= now:
            conn = self.reading[0]
            if conn.too_large:
                self._answer_too_large(conn)
                continue
            message = f"the request did not arrive within {self.read_timeout:g} s"
            self.log.info(f"408 to {_peer(conn)}: {message}")
            self._close_with(conn, json_error(408, "Request Timeout", message))


def _peer(conn: TConn) -> str:
    return str(conn.client[0]) if isinstance(conn.client, tuple) else ""


def _send_and_close(sock: socket.socket, answer: bytes) -> None:
    """Best effort from the event loop: the answer fits in the socket's send buffer."""
    try:
        sock.setblocking(False)
        sock.send(answer)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    sock.close()
