"""One log format across the service: every line every Sentinel process wrote while the suite's
stack ran (gunicorn's own error and access lines included) is a JSON object with service,
level, timestamp and message; access lines carry the request id."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import requests

from eventing import logs
from tests.conftest import Stack

SERVICES = {"broker", "executor", "sink", "callbacks", "dispatcher", "ingress"}


def test_every_line_of_every_service_is_json_with_the_same_fields(stack: Stack) -> None:
    job = stack.run({"language": "python", "code": "print(1)"})
    requests.get(
        f"{stack.url}/job/{job['id']}", headers={"X-Request-Id": "logs-test-1"}, timeout=10
    )
    requests.get(f"{stack.url}/job/" + "x" * 5000, timeout=10)  # refused by gunicorn: 414
    seen: set[str] = set()
    bad = []
    for name in sorted(SERVICES):
        for number, line in enumerate((stack.log_dir / f"{name}.log").read_text().splitlines()):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                bad.append(f"{name}.log:{number + 1}: {line[:160]}")
                continue
            if not {"service", "level", "timestamp", "message"} <= set(entry):
                bad.append(f"{name}.log:{number + 1}: fields missing: {line[:160]}")
            seen.add(entry.get("service", ""))
    assert bad == [], "\n".join(bad[:30])
    assert {"ingress", "executor", "sink", "callbacks", "dispatcher", "broker"} <= seen
    ingress = (stack.log_dir / "ingress.log").read_text()
    assert '"requestid": "logs-test-1"' in ingress
    sink = [json.loads(line) for line in (stack.log_dir / "sink.log").read_text().splitlines()]
    access = [e for e in sink if e.get("logger") == "gunicorn.access"]
    assert access and all({"method", "path", "status", "ms"} <= set(e) for e in access)


WRITERS = """
import logging, threading, structlog
from eventing import logs
logs.configure("writers")
log, std = structlog.get_logger(), logging.getLogger("gunicorn.access")
def structlog_lines():
    for n in range(3000):
        log.info("from structlog", n=n, pad="x" * 200)
def stdlib_lines():
    for n in range(3000):
        std.info("from stdlib", extra={"fields": {"n": n, "pad": "y" * 200}})
threads = [threading.Thread(target=t) for t in (structlog_lines, stdlib_lines) * 2]
for t in threads: t.start()
for t in threads: t.join()
"""


def test_lines_from_structlog_and_stdlib_at_once_stay_whole() -> None:
    """Both write to stderr from many threads (the services' own lines and gunicorn's access
    lines): each line whole, none run into another (seen once in the sink's log)."""
    done = subprocess.run(
        [sys.executable, "-c", WRITERS], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parents[1], check=True,
    )  # fmt: skip
    lines = done.stderr.splitlines()
    assert len(lines) == 12000
    for line in lines:
        json.loads(line)


CLOSED_AT_EXIT = """
import io, sys, threading, structlog
from eventing import logs
logs.configure("sink")
log = structlog.get_logger("test")
log.info("before")
sys.stderr.close()  # as pytest's captured stream is at the end of a run
failed = []
def late():
    try:
        log.warning("completion listener reconnecting", error="closed")
    except BaseException as exc:  # noqa: BLE001
        failed.append(repr(exc))
thread = threading.Thread(target=late)
thread.start()
thread.join()
print("failed" if failed else "dropped", failed)
"""


def test_a_line_logged_after_stderr_closed_is_dropped_without_a_traceback() -> None:
    """At the end of a test run a daemon thread (the ingress's completion listener) logged to
    the closed captured stream and printed a traceback; such a line is now dropped."""
    done = subprocess.run(
        [sys.executable, "-c", CLOSED_AT_EXIT], capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parents[1], check=True,
    )  # fmt: skip
    assert done.stdout.startswith("dropped"), done.stdout + done.stderr
    assert "Traceback" not in done.stderr


class _ClosedMidWrite(io.StringIO):
    """A stream closed by another thread after the logger saw it open: the write fails as a
    closed file's does (CI's end of run showed it at flush())."""

    def write(self, text: str) -> int:
        raise ValueError("I/O operation on closed file.")


def test_a_stream_closed_between_the_check_and_the_write_drops_the_line() -> None:
    logger = logs._HandlerLogger(logging.StreamHandler(_ClosedMidWrite()))
    logger.msg('{"message": "late"}')  # raised ValueError before


def test_a_stream_whose_descriptor_was_closed_underneath_drops_the_line() -> None:
    """CI's end of run (2026-12-02 13:38): the completion listener's reconnect line met a stderr
    whose file descriptor was already closed, and its write raised EBADF in that thread."""
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    os.close(write_end)  # the fd goes, the file object stays open
    os.close(read_end)
    logger = logs._HandlerLogger(logging.StreamHandler(stream))
    logger.msg('{"message": "late"}')  # raised OSError before
    with contextlib.suppress(OSError):
        stream.close()
