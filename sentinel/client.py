"""The HTTP client of the public API: submit, then wait for the result.

It asks `POST /api/execute?wait=true` first (the server answers with the finished job once it
supports waiting; until then it ignores the parameter and answers 202) and falls back to polling
`GET /job/{id}` with a short backoff. Every way the exchange can go wrong becomes a
`ServiceError` that says whose fault it was: the server refused the request (a 4xx, the user's
to fix) or the service could not be reached or could not run it (the infrastructure's).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

DEFAULT_URL = "http://127.0.0.1:8080"
FINISHED = ("completed", "failed")
FIRST_POLL_S = 0.05
MAX_POLL_S = 1.0
CONNECT_TIMEOUT_S = 5.0


class ServiceError(Exception):
    """The exchange with Sentinel failed; `refused` when the server said no (a 4xx)."""

    def __init__(
        self, message: str, *, refused: bool = False, body: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.refused = refused
        self.body = body or {}  # the server's JSON answer, when it gave one


@dataclass(frozen=True)
class Client:
    """One Sentinel server: its base URL and, when given, the API key sent as X-API-Key."""

    url: str = DEFAULT_URL
    api_key: str | None = None
    timeout_s: float = 300.0

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "sentinel-cli"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        return headers

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.url.rstrip('/')}{path}"
        try:
            return requests.request(method, url, headers=self._headers(), **kwargs)
        except requests.ConnectionError as exc:
            raise ServiceError(
                f"cannot reach Sentinel at {self.url} ({_reason(exc)}); is it running? "
                "Point --server or SENTINEL_URL at it."
            ) from exc
        except requests.Timeout as exc:
            raise ServiceError(
                f"Sentinel at {self.url} did not answer in time ({method} {path})"
            ) from exc
        except requests.RequestException as exc:
            raise ServiceError(f"request to {url} failed: {exc}") from exc

    def languages(self) -> list[dict[str, Any]]:
        """GET /languages: what the server runs."""
        answer = self._request("GET", "/languages", timeout=(CONNECT_TIMEOUT_S, 30))
        body = _json(answer)
        entries = body.get("languages")
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []

    def execute(
        self, submission: dict[str, Any], on_wait: Callable[[], None] | None = None
    ) -> dict[str, Any]:
        """Submit and return the finished job (GET /job/{id}'s shape); `on_wait` ticks while
        waiting, so a progress display can move."""
        answer = self._request(
            "POST",
            "/api/execute",
            params={"wait": "true"},
            json=submission,
            timeout=(CONNECT_TIMEOUT_S, self.timeout_s),
        )
        body = _json(answer)
        if body.get("status") in FINISHED:
            return body
        job_id = body.get("id")
        if not isinstance(job_id, str):
            raise ServiceError(f"Sentinel answered {answer.status_code} without a job id: {body}")
        return self.wait(job_id, on_wait)

    def wait(self, job_id: str, on_wait: Callable[[], None] | None = None) -> dict[str, Any]:
        """Poll GET /job/{id} until it is finished, backing off from 50 ms to 1 s."""
        deadline = time.monotonic() + self.timeout_s
        pause = FIRST_POLL_S
        while True:
            body = _json(self._request("GET", f"/job/{job_id}", timeout=(CONNECT_TIMEOUT_S, 30)))
            if body.get("status") in FINISHED:
                return body
            if time.monotonic() + pause > deadline:
                raise ServiceError(
                    f"job {job_id} not finished after {self.timeout_s:.0f}s "
                    f"(status {body.get('status')!r}); raise --timeout to wait longer"
                )
            if on_wait is not None:
                on_wait()
            time.sleep(pause)
            pause = min(pause * 2, MAX_POLL_S)


def _json(answer: requests.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer; a ServiceError carrying the server's message otherwise."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.ok and isinstance(body, dict):
        return body
    if not isinstance(body, dict):
        snippet = answer.text.strip().replace("\n", " ")[:200]
        raise ServiceError(
            f"Sentinel answered {answer.status_code} {answer.reason} with no JSON: {snippet!r}",
            refused=400 <= answer.status_code < 500,
        )
    message = str(body.get("error") or body.get("message") or body)
    if body.get("field"):
        message += f" (field: {body['field']})"
    if isinstance(body.get("supported"), list):
        message += f"; supported: {', '.join(str(s) for s in body['supported'])}"
    if answer.status_code in (401, 403):
        message += "; check --api-key or SENTINEL_API_KEY"
    prefix = "Sentinel refused the request" if answer.status_code < 500 else "Sentinel failed"
    raise ServiceError(
        f"{prefix} ({answer.status_code}): {message}", refused=answer.status_code < 500, body=body
    )


def _reason(exc: requests.ConnectionError) -> str:
    """A short cause of a connection failure, e.g. 'Connection refused', not urllib3's essay."""
    text = str(exc)
    for known in (
        "Connection refused",
        "Name or service not known",
        "Temporary failure in name resolution",
        "No route to host",
        "Network is unreachable",
        "timed out",
    ):
        if known in text:
            return known.lower()
    return type(exc).__name__
