"""Logging for every Sentinel service: structlog, one JSON object per line, on stderr.

One module so that every service's lines have the same shape (`service`, `event`, `level`,
`timestamp`, and `requestid` when one is bound) and can be joined on the request id: the ingress
binds it per HTTP request, it travels in the CloudEvent's `requestid` extension attribute, and
the dispatcher and executor log it with each delivery. functions/ may import this module (the one
exception to "functions imports only eventing.contract", see docs/architecture.md): it has no
Redis or broker dependency.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

REQUEST_ID_EXTENSION = "requestid"


def _service(name: str) -> structlog.typing.Processor:
    """A processor stamping every line with the service's name (threads share no context)."""

    def stamp(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.setdefault("service", name)
        return event

    return stamp


def json_line(service: str, level: str, message: str, **fields: Any) -> str:
    """One line in the shape structlog's lines have here: for what is not logged through
    structlog (stdlib loggers, gunicorn's error and access logs, the supervisor)."""
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    line = {"service": service, "level": level, "timestamp": stamp, "message": message}
    return json.dumps({**line, **fields}, default=str)


class JsonFormatter(logging.Formatter):
    """stdlib logging records as json_line()s; a record's `fields` extra become fields."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = dict(getattr(record, "fields", {}) or {})
        fields["logger"] = record.name
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return json_line(self.service, record.levelname.lower(), record.getMessage(), **fields)


class _HandlerLogger:
    """structlog's output through the stdlib handler's stream and lock.

    Why: structlog's PrintLogger and the stdlib StreamHandler (gunicorn's access and error
    lines) each lock on their own, and both write to stderr, so under load a structlog line and
    an access line were seen run together without their newline (tests/test_logs.py). One lock
    for both keeps every line whole."""

    def __init__(self, handler: logging.StreamHandler) -> None:  # type: ignore[type-arg]
        self._handler = handler

    def msg(self, message: str) -> None:
        self._handler.acquire()
        try:
            stream = self._handler.stream
            # Closed at interpreter exit (a test run's captured stderr) while a daemon thread
            # still logs: the line is dropped, as the stdlib's StreamHandler would drop it,
            # rather than a traceback from that thread. Whoever closes it holds no lock of ours,
            # so it can also close between the check and the write (CI saw that at flush()),
            # or its descriptor can be gone under an open file object (EBADF, seen in CI too).
            if not getattr(stream, "closed", False):
                with contextlib.suppress(ValueError, OSError):
                    stream.write(message + "\n")
                    stream.flush()
        finally:
            self._handler.release()

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def configure(service: str, level: int = logging.INFO) -> None:
    """Send structlog and stdlib logging (libraries' warnings) out as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings.warn() as log lines too, not bare stderr text
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _service(service),
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *_: _HandlerLogger(handler),
        cache_logger_on_first_use=True,
    )
