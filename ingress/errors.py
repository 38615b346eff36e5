"""The API's error answers: one exception type that becomes a JSON body with a 4xx (or 503).

Raised wherever a request is found wanting (validation, rate limit, backpressure, auth) and
turned into `{"error": ..., "field"?, "details"?}` by the handler registered in ingress/app.py,
so no route builds an error response by hand and none can forget the JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from ingress.shapes import Error


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
        """The JSON document answered (ingress/shapes.py's Error)."""
        return Error(error=self.message, **self.extra).wire()


def respond(exc: ApiError, body: dict[str, Any]) -> Response:
    """The response for `exc` with `body` in the caller's API shape (the native API, Judge0 and
    Piston word their errors differently; status and headers are the same). The rate-limit
    headers are added to every response by the app's after_request."""
    response = jsonify(body)
    response.status_code = exc.status
    response.headers.update(exc.headers)
    return response
