"""gunicorn's logger for every Sentinel HTTP service: its error log and access log as the same
JSON lines as everything else (eventing/logs.py), not gunicorn's bracketed text and Apache lines.

gunicorn loads this class by name (eventing/wsgi.py passes --logger-class) in its master,
before it forks the workers, so it also configures structlog for the service (SENTINEL_SERVICE
names it): the sink and the broker ingress, which log through structlog without configuring
it, then write JSON too. An access line has method, path, status, ms, client, bytes and the
request id (X-Request-Id of the answer, else of the request).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gunicorn.glogging import Logger

from eventing import logs
from eventing.serving_settings import WorkerSettings


class JsonLogger(Logger):  # type: ignore[misc]
    """gunicorn's Logger with JSON formatters and a structured access line."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        service = WorkerSettings.from_env().service
        logs.configure(service)
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(logs.JsonFormatter(service))

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        headers = dict((k.lower(), v) for k, v in (resp.headers or []))
        asked = dict((k.lower(), v) for k, v in (getattr(req, "headers", None) or []))
        seconds = (
            request_time.total_seconds()
            if isinstance(request_time, dt.timedelta)
            else float(request_time)
        )
        fields = {
            "method": getattr(req, "method", None),
            "path": getattr(req, "path", None),
            "status": int(str(resp.status).split()[0]),
            "ms": round(seconds * 1000, 1),
            "client": environ.get("REMOTE_ADDR"),
            "bytes": getattr(resp, "sent", None),
            "requestid": headers.get("x-request-id") or asked.get("x-request-id"),
        }
        self.access_log.info("request", extra={"fields": fields})
