"""Real HTTP endpoints for broker tests: a subscriber that answers as scripted and records when
each request arrived, and any WSGI app (the real sink) served on a free port in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from eventing import contract
from sentinel.serve import free_port

# An answer: a status code, ("sleep", seconds) then 204, or a function building the response.
Answer = int | tuple[str, float] | Callable[[Request], Response]


@dataclass
class Call:
    """One request as it arrived."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes

    def event(self) -> Any:
        """The CloudEvent this request carried."""
        return contract.from_http(self.headers, self.body)


@dataclass
class Subscriber:
    """Answers each path's requests with its script in order, then 204; records every call."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    scripts: dict[str, list[Answer]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path: str, *answers: Answer) -> str:
        """Script `path`'s answers; its URL."""
        with self.lock:
            self.scripts[path] = list(answers)
        return self.url + path

    def calls_to(self, path: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.path == path]

    def wait_for(self, path: str, count: int, timeout_s: float = 20) -> list[Call]:
        """Wait until `path` had at least `count` calls; those calls."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            calls = self.calls_to(path)
            if len(calls) >= count:
                return calls
            time.sleep(0.02)
        raise AssertionError(f"{path}: {len(self.calls_to(path))} calls, wanted {count}")

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        call = Call(time.monotonic(), request.path, dict(request.headers), request.get_data())
        with self.lock:
            self.calls.append(call)
            script = self.scripts.get(request.path, [])
            answer: Answer = script.pop(0) if script else 204
        if isinstance(answer, tuple):
            time.sleep(answer[1])
            answer = 204
        response = answer(request) if callable(answer) else Response(status=answer)
        return response(environ, start_response)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve a WSGI app on a free loopback port in a thread; its base URL."""
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(5)


@contextmanager
def subscriber() -> Iterator[Subscriber]:
    """A scripted subscriber, listening."""
    sub = Subscriber()
    with serving(sub) as url:
        sub.url = url
        yield sub
