"""The API's error answers: one exception type that becomes a JSON body with a 4xx (or 503).

Raised wherever a request is found wanting (validation, rate limit, backpressure, auth) and
turned into `{"error": ..., "field"?, "details"?}` by the handler registered in ingress/app.py,
so no route builds an error response by hand and none can forget the JSON.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A client-facing error: HTTP `status`, a message, and optional fields and headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON document answered."""
        return {"error": self.message, **self.extra}
