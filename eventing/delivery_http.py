"""The dispatcher's HTTP/1.1 client: one POST per delivery attempt, on kept-alive connections,
with as little Python per request as the protocol allows.

Why not urllib3 (which the dispatcher used before): its layers (URL parsing per request,
Timeout and Retry objects, http.client's header parsing through the email package) cost about
1.5 ms of the dispatcher's CPU per POST on the machines of docs/benchmarks.md, and a job is
delivered twice (to its executor, then its result to the sink). http.client alone costs about
0.75 ms; this client about 0.2 ms (section "The dispatcher's own HTTP client" there).

What it does, and nothing more: POST with a Content-Length body; answers with Content-Length,
chunked transfer coding, or a body up to the connection's close; interim 1xx answers skipped;
connections kept per thread and per subscriber (scheme, host, port), so no lock is taken, and
dropped when the server said `Connection: close`, when anything went wrong, or when the server
closed them while idle (checked before reuse, as urllib3 does). A connection that was reused
and failed before a byte of the answer arrived was most likely closed by the server meanwhile:
the request is sent once more on a new one (a delivery is at-least-once; subscribers are
idempotent: eventing/dispatcher.py). Every bound a subscriber could abuse is held: the status
line and each header at 64 KiB, at most 100 headers, the body at `max_body` bytes.

https:// subscribers get TLS with the system's trust store and host name checks.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import BinaryIO
from urllib.parse import urlsplit

MAX_LINE = 65536
MAX_HEADERS = 100
# No header name or value may carry a control character (CR and LF would add headers or a second
# request). The CloudEvents SDK percent-encodes attribute values in binary mode already; this
# holds for any header, as http.client's own check did.
_ILLEGAL_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class HTTPFailure(Exception):
    """The attempt did not get an answer. `kind` names what happened (ConnectionError,
    Timeout, ProtocolError) for the dispatcher's reason and retry; `retryable` is False when
    sending it again cannot help (a request that cannot be written, an answer over the bound)."""

    def __init__(self, kind: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.retryable = retryable


@dataclass(frozen=True)
class Answer:
    """A subscriber's answer; header names lower-cased (repeated ones joined by ", ")."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str
    host_header: str


@lru_cache(maxsize=256)
def _target(url: str) -> _Target:
    """A subscriber URL taken apart once (they are few: one per trigger and dead-letter sink)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HTTPFailure("ProtocolError", f"not an http(s) URL: {url!r}", retryable=False)
    default = 443 if parts.scheme == "https" else 80
    port = parts.port or default
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    return _Target(parts.scheme, host, port, path, host_header)


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


class _Connection:
    """One socket to one subscriber, used by one thread at a time."""

    def __init__(self, target: _Target, timeout: float) -> None:
        try:
            sock = socket.create_connection((target.host, target.port), timeout=timeout)
        except TimeoutError as exc:
            raise HTTPFailure("Timeout", f"connecting to {target.host}:{target.port}") from exc
        except OSError as exc:
            raise HTTPFailure("ConnectionError", f"{target.host}:{target.port}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if target.scheme == "https":
            try:
                sock = _tls().wrap_socket(sock, server_hostname=target.host)
            except OSError as exc:  # ssl.SSLError is one too
                sock.close()
                raise HTTPFailure("ConnectionError", f"TLS with {target.host}: {exc}") from exc
        self.sock = sock
        self.reader: BinaryIO = sock.makefile("rb")

    def dropped(self) -> bool:
        """Whether the server closed it (or sent something unasked) while it was idle."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


class Client:
    """POSTs on connections kept per thread, so that deliveries running side by side never
    wait for each other's connection."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self._local = threading.local()

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Answer:
        """POST `body` with `headers` to `url`, waiting at most `timeout` seconds for each step
        (connecting, each read); HTTPFailure when no whole answer came."""
        target = _target(url)
        request = _request(target, body, headers)
        pool: dict[tuple[str, str, int], _Connection] = self._local.__dict__.setdefault("pool", {})
        key = (target.scheme, target.host, target.port)
        connection = pool.pop(key, None)
        if connection is not None and connection.dropped():
            connection.close()
            connection = None
        for _ in range(2):
            reused = connection is not None
            if connection is None:
                connection = _Connection(target, timeout)
            try:
                answer, keep = _exchange(connection, request, timeout, self.max_body)
            except _Stale:
                connection.close()
                connection = None
                if reused:
                    continue  # closed by the server meanwhile: once more on a new connection
                raise HTTPFailure(
                    "ConnectionError", "the connection closed before an answer"
                ) from None
            except BaseException:
                connection.close()
                raise
            if keep:
                pool[key] = connection
            else:
                connection.close()
            return answer
        raise HTTPFailure("ConnectionError", "the connection closed before an answer")


class _Stale(Exception):
    """The connection failed before any byte of an answer: nothing was answered on it."""


def _request(target: _Target, body: bytes, headers: Mapping[str, str]) -> bytes:
    lines = [
        f"POST {target.path} HTTP/1.1",
        f"Host: {target.host_header}",
        f"Content-Length: {len(body)}",
    ]
    for name, value in headers.items():
        text = f"{name}: {value}"
        if _ILLEGAL_HEADER.search(text) or not name or ":" in name:
            raise HTTPFailure("ProtocolError", f"invalid header {name[:40]!r}", retryable=False)
        if name.lower() not in ("host", "content-length"):
            lines.append(text)
    lines.append("\r\n")
    try:
        return "\r\n".join(lines).encode("latin-1") + body
    except UnicodeEncodeError:
        raise HTTPFailure("ProtocolError", "a header is not latin-1", retryable=False) from None


def _exchange(
    connection: _Connection, request: bytes, timeout: float, max_body: int
) -> tuple[Answer, bool]:
    """Send `request` and read its answer; whether the connection may be kept."""
    connection.sock.settimeout(timeout)
    started = False
    try:
        try:
            connection.sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _Stale from exc
        reader = connection.reader
        while True:
            try:
                line = reader.readline(MAX_LINE + 1)
            except ConnectionResetError as exc:
                if started:
                    raise
                raise _Stale from exc
            if not line:
                if started:
                    raise HTTPFailure("ProtocolError", "the connection closed mid-answer")
                raise _Stale
            started = True
            version, status = _status_line(line)
            headers = _headers(reader)
            if 100 <= status < 200:
                continue  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            break
        body, length_known = _body(reader, status, headers, max_body)
    except TimeoutError as exc:
        raise HTTPFailure("Timeout", f"no answer within {timeout:g}s") from exc
    except OSError as exc:  # ssl.SSLError is one too
        raise HTTPFailure("ConnectionError", str(exc) or type(exc).__name__) from exc
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep = length_known and (
        "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
    )
    return Answer(status, headers, body), keep


def _status_line(line: bytes) -> tuple[str, int]:
    if len(line) > MAX_LINE:
        raise HTTPFailure("ProtocolError", "status line too long")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    if len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0"):
        raise HTTPFailure("ProtocolError", f"not an HTTP/1.x status line: {line[:80]!r}")
    if len(parts[1]) != 3 or not parts[1].isdigit():
        raise HTTPFailure("ProtocolError", f"bad status code: {parts[1][:10]!r}")
    return parts[0], int(parts[1])


def _headers(reader: BinaryIO) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise HTTPFailure("ProtocolError", "header line too long")
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise HTTPFailure("ProtocolError", "the connection closed in the headers")
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise HTTPFailure("ProtocolError", f"bad header line: {line[:80]!r}")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    raise HTTPFailure("ProtocolError", f"more than {MAX_HEADERS} headers")


def _body(
    reader: BinaryIO, status: int, headers: Mapping[str, str], max_body: int
) -> tuple[bytes, bool]:
    """The answer's body, and whether its end was marked (else it ended with the connection)."""
    if status in (204, 304):
        return b"", True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _chunked(reader, max_body), True
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit() or len(length) > 19:
            raise HTTPFailure("ProtocolError", f"bad Content-Length {length[:30]!r}")
        size = int(length)
        if size > max_body:
            raise _too_large(max_body)
        data = reader.read(size)
        if len(data) < size:
            raise HTTPFailure("ProtocolError", "the connection closed mid-body")
        return data, True
    data = reader.read(max_body + 1)
    if len(data) > max_body:
        raise _too_large(max_body)
    return data, False


def _chunked(reader: BinaryIO, max_body: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = reader.readline(MAX_LINE + 1)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HTTPFailure("ProtocolError", f"bad chunk size {line[:30]!r}") from None
        if size == 0:
            break
        total += size
        if total > max_body:
            raise _too_large(max_body)
        data = reader.read(size)
        if len(data) < size or reader.readline(3) not in (b"\r\n", b"\n"):
            raise HTTPFailure("ProtocolError", "the connection closed mid-chunk")
        parts.append(data)
    _headers(reader)  # trailers, if any: read and ignored
    return b"".join(parts)


def _too_large(max_body: int) -> HTTPFailure:
    return HTTPFailure(
        "ProtocolError", f"the answer is larger than {max_body} bytes", retryable=False
    )
