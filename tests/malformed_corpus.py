"""A generated corpus of malformed requests, per public endpoint: what a stranger (or a broken
client) sends. tests/test_malformed.py sends every one and requires a 4xx (or 2xx when it
happens to be valid) with a strict-JSON body, never a 5xx.

Bodies are raw bytes, so that what `json.dumps` would never write (NaN, 1e400, 400-digit
integers, lone surrogates, nesting 1,000 and 100,000 deep, invalid UTF-8) is sent as such.
Each endpoint's valid body is taken apart field by field: every field, nested ones included, is
replaced by every hostile value in turn, and the body as a whole by every hostile document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eventing import contract


@dataclass(frozen=True)
class Case:
    """One request: method, path (with query), headers, raw body, and what it is."""

    what: str
    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)


class Raw:
    """A JSON text spliced in as is (json.dumps would refuse it or write something else)."""

    def __init__(self, text: str) -> None:
        self.text = text


def deep(levels: int, open_: str = "[", close: str = "]") -> Raw:
    return Raw(open_ * levels + close * levels)


# Values no field of ours takes, each a way some parser or conversion has broken before.
HOSTILE: dict[str, Any] = {
    "null": None,
    "true": True,
    "negative": -1,
    "zero": 0,
    "float": 0.5,
    "huge float": 1e300,
    "NaN": Raw("NaN"),
    "Infinity": Raw("Infinity"),
    "-Infinity": Raw("-Infinity"),
    "1e400": Raw("1e400"),
    "400 digits": Raw("9" * 400),
    "-400 digits": Raw("-" + "9" * 400),
    "string": "x",
    "digits as string": "9" * 400,
    "Infinity as string": "Infinity",
    "lone surrogate": Raw('"\\ud800"'),
    "surrogate in text": Raw('"a\\udfffb"'),
    "NUL": "a\u0000b",
    "long string": "y" * 70_000,
    "empty list": [],
    "list": [1, "a", None],
    "empty object": {},
    "object": {"a": 1},
    "deep 1000": deep(1000),
    "deep objects 200": Raw('{"a":' * 200 + "1" + "}" * 200),
}

# Whole documents that are not what any endpoint takes.
DOCUMENTS: dict[str, bytes] = {
    "empty": b"",
    "null": b"null",
    "array": b"[]",
    "array of objects": b'[{"a": 1}]',
    "number": b"1",
    "string": b'"x"',
    "truncated": b'{"language": "python", "code": "pri',
    "invalid UTF-8": b'{"code": "\xff\xfe"}',
    "UTF-16": '{"a": 1}'.encode("utf-16"),
    "deep 1000": b"[" * 1000 + b"]" * 1000,
    "deep 100000": b"[" * 100_000,
    "deep objects 1000": b'{"a":' * 1000 + b"1" + b"}" * 1000,
    "NaN": b"NaN",
    "1e400": b"1e400",
    "duplicate keys": b'{"language": "python", "language": 5, "code": "x"}',
    "trailing garbage": b'{"language": "python", "code": "x"} x',
    "lone surrogate key": b'{"\\ud800": 1}',
    "BOM": b'\xef\xbb\xbf{"language": "python", "code": "print(1)"}',
}


def encode(value: Any) -> str:
    """JSON text of `value`, with Raw parts spliced in."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(encode(v) for v in value) + "]"
    return json.dumps(value)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field path of a JSON value (dict keys and list indexes), deepest last."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from paths(item, (*prefix, index))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of `value` with the field at `path` replaced by `new`."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: replaced(v, rest, new) if k == head else v for k, v in value.items()}
    return [replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


# Each endpoint's valid body; the corpus breaks it. The code fails fast if ever queued.
NATIVE = {
    "language": "python",
    "code": "raise SystemExit(0)",
    "input": "",
    "testCases": [{"input": "1", "expected": "1", "points": 1}],
    "limits": {"cpuTimeMs": 1000, "memoryMb": 64, "outputKb": 16},
    "files": [{"name": "a.txt", "content": "eA==", "encoding": "base64"}],
    "args": ["a"],
    "compare": "trimmed",
    "stopOnFirstFailure": False,
    "numberOfRuns": 1,
}
JUDGE0 = {
    "source_code": "raise SystemExit(0)",
    "language_id": 71,
    "stdin": "",
    "expected_output": "",
    "cpu_time_limit": 1,
    "wall_time_limit": 2,
    "memory_limit": 65536,
    "stack_limit": 8192,
    "max_processes_and_or_threads": 8,
    "max_file_size": 1024,
    "number_of_runs": 1,
    "command_line_arguments": "a b",
    "redirect_stderr_to_stdout": False,
}
PISTON = {
    "language": "python",
    "version": "*",
    "files": [{"name": "main.py", "content": "raise SystemExit(0)"}],
    "stdin": "",
    "args": ["a"],
    "run_timeout": 1000,
    "compile_timeout": 1000,
    "run_memory_limit": 64_000_000,
}
EVENT = {
    "specversion": "1.0",
    "id": "corpus-1",
    "source": "/tests/corpus",
    "type": contract.REQUESTED,
    "datacontenttype": "application/json",
    "requestid": "corpus",
    "data": {"language": "python", "code": "raise SystemExit(0)"},
}
STRUCTURED = (("Content-Type", "application/cloudevents+json"),)
BINARY = (
    ("Content-Type", "application/json"),
    ("ce-specversion", "1.0"),
    ("ce-id", "corpus-binary"),
    ("ce-source", "/tests/corpus"),
    ("ce-type", contract.REQUESTED),
)

# (endpoint, valid body, headers): the bodies to take apart. Case.headers is JSON's.
BODIES: list[tuple[str, Any, tuple[tuple[str, str], ...]]] = [
    ("/api/execute", NATIVE, Case.headers),
    ("/execute", NATIVE, Case.headers),
    ("/api/execute/batch", {"submissions": [NATIVE]}, Case.headers),
    ("/judge0/submissions", JUDGE0, Case.headers),
    (
        "/judge0/submissions?base64_encoded=true",
        {**JUDGE0, "source_code": "cHJpbnQoMSk="},
        Case.headers,
    ),
    ("/judge0/submissions/batch", {"submissions": [JUDGE0]}, Case.headers),
    ("/api/v2/execute", PISTON, Case.headers),
    ("/events", EVENT, STRUCTURED),
    ("/events", NATIVE, BINARY),
]


def body_cases() -> Iterator[Case]:
    """Every endpoint's body with each field replaced by each hostile value, and each hostile
    document in place of the whole body."""
    for path, valid, headers in BODIES:
        for name, document in DOCUMENTS.items():
            yield Case(f"{path} body {name}", "POST", path, document, headers)
        for field in paths(valid):
            for name, value in HOSTILE.items():
                body = encode(replaced(valid, field, value)).encode("utf-8", "surrogatepass")
                where = ".".join(str(p) for p in field)
                yield Case(f"{path} {where}={name}", "POST", path, body, headers)


BAD_ID = ["x" * 3000, "%ff%fe", "%00", "..%2f..%2fetc%2fpasswd", "%ed%a0%80", "a" * 129]
READS = [
    "/job/{}",
    "/api/result/{}",
    "/api/status/{}",
    "/judge0/submissions/{}",
    "/judge0/submissions/batch?tokens={}",
    "/judge0/languages/{}",
]
QUERIES = [
    "/api/execute?wait=maybe",
    "/api/execute?wait=true&timeout=1e400",
    "/api/execute?wait=true&timeout=nan",
    "/api/execute?wait=true&timeout=inf",
    "/api/execute?wait=true&timeout=-1",
    "/api/execute?wait=%ff",
    "/judge0/submissions?wait=true&fields=%ff",
    "/judge0/submissions?base64_encoded=%00",
    "/judge0/submissions?fields=" + "a," * 2000,
]
METHODS = ["PUT", "DELETE", "PATCH", "FOO", "OPTIONS", "TRACE"]


def request_cases() -> Iterator[Case]:
    """Paths, queries, methods and headers that are wrong in themselves."""
    for read in READS:
        for bad in BAD_ID:
            yield Case(f"GET {read} {bad[:20]}", "GET", read.format(bad))
    for query in QUERIES:
        body = encode(NATIVE).encode()
        yield Case(f"POST {query[:60]}", "POST", query, body)
    for method in METHODS:
        for path in ("/api/execute", "/job/x", "/judge0/submissions", "/api/v2/execute", "/events"):
            yield Case(f"{method} {path}", method, path)
    for content_type in ("text/plain", "application/xml", "multipart/form-data", "\x7f"):
        yield Case(
            f"Content-Type {content_type!r}",
            "POST",
            "/api/execute",
            encode(NATIVE).encode(),
            (("Content-Type", content_type),),
        )
    for name, value in (("ce-specversion", "0.3"), ("ce-id", ""), ("ce-requestid", "r" * 5000)):
        headers = tuple((k, value if k == name else v) for k, v in BINARY)
        yield Case(f"/events header {name}", "POST", "/events", encode(NATIVE).encode(), headers)
    for drop in ("ce-specversion", "ce-id", "ce-source", "ce-type"):
        headers = tuple((k, v) for k, v in BINARY if k != drop)
        yield Case(f"/events without {drop}", "POST", "/events", encode(NATIVE).encode(), headers)
    yield Case(
        "/events batch mode",
        "POST",
        "/events",
        encode([EVENT]).encode(),
        (("Content-Type", "application/cloudevents-batch+json"),),
    )


def corpus() -> list[Case]:
    """The whole corpus."""
    return [*body_cases(), *request_cases()]


# Requests broken at the HTTP level, sent as raw bytes: gunicorn's parser refuses them before
# the app runs (414, 431, 400), and must answer JSON too.
RAW: dict[str, bytes] = {
    "10 KB job id": b"GET /job/" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: s\r\n\r\n",
    "long query": b"GET /load?" + b"q=1&" * 3000 + b" HTTP/1.1\r\nHost: s\r\n\r\n",
    "20 KB header": b"GET /load HTTP/1.1\r\nHost: s\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n",
    "200 headers": b"GET /load HTTP/1.1\r\nHost: s\r\n"
    + b"".join(b"X-H%d: 1\r\n" % i for i in range(200))
    + b"\r\n",
    "garbage request line": b"HELLO\r\n\r\n",
    "bad HTTP version": b"GET /load HTTP/9.9\r\nHost: s\r\n\r\n",
    "space in header name": b"GET /load HTTP/1.1\r\nHost: s\r\nBad Header: 1\r\n\r\n",
    "two content lengths": b"POST /api/execute HTTP/1.1\r\nHost: s\r\nContent-Length: 2\r\n"
    b"Content-Length: 3\r\n\r\n{}",
    "negative content length": b"POST /api/execute HTTP/1.1\r\nHost: s\r\n"
    b"Content-Length: -1\r\n\r\n",
    "bad chunk size": b"POST /api/execute HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n"
    b"\r\nzz\r\n{}\r\n0\r\n\r\n",
    "unknown transfer coding": b"POST /api/execute HTTP/1.1\r\nHost: s\r\n"
    b"Transfer-Encoding: gzip\r\n\r\n",
    "NUL in path": b"GET /job/a\x00b HTTP/1.1\r\nHost: s\r\n\r\n",
    "obsolete folding": b"GET /load HTTP/1.1\r\nHost: s\r\nX-A: 1\r\n  folded\r\n\r\n",
}
