"""Logging for every Sentinel service: structlog, one JSON object per line, on stderr.

One module so that every service's lines have the same shape (`service`, `event`, `level`,
`timestamp`, and `requestid` when one is bound) and can be joined on the request id: the ingress
binds it per HTTP request, it travels in the CloudEvent's `requestid` extension attribute, and
the dispatcher and executor log it with each delivery. functions/ may import this module (the one
exception to "functions imports only eventing.contract", see docs/architecture.md): it has no
Redis or broker dependency.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import EventDict, WrappedLogger

REQUEST_ID_EXTENSION = "requestid"


def _service(name: str) -> structlog.typing.Processor:
    """A processor stamping every line with the service's name (threads share no context)."""

    def stamp(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.setdefault("service", name)
        return event

    return stamp


def configure(service: str, level: int = logging.INFO) -> None:
    """Send structlog (and stdlib logging, e.g. gunicorn's errors) out as JSON lines."""
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level)
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
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
