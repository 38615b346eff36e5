"""GET /health from state already held: subscribers are probed in the background, not per call.

The seed's shape is kept field for field (`status` "healthy", `timestamp`, `redis` "connected",
`queues` {"python-1": "healthy", ...}); `services` and `languages` are our additions beside it.
A probe of every subscriber per request made /health wait on a busy executor (its threads all
running jobs) and answer "down" for every language whenever one probe timed out. Instead one
daemon thread per ingress process probes each subscriber every PROBE_EVERY_S (RETRY_EVERY_S
while one is down); a subscriber is "down" only after FAILURES_DOWN probes in a row failed, so
one slow answer under load changes nothing, and /health itself touches only Redis (with the
client's socket timeout).

Whether a subscriber is up is its answer's status code, as Kubernetes' probes decide; an
executor's JSON body is also read through the model it is built with
(eventing/executor_shapes.py's HealthReport), and one that does not fit is logged once (until
it fits again), so a version skew between ingress and executor shows in the logs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests
import structlog
from pydantic import ValidationError

from eventing import contract, keys
from eventing.executor_shapes import HealthReport
from eventing.triggers import Trigger

PROBE_EVERY_S = 5.0
# While a subscriber is down (or not yet seen up), the round comes again this soon, so one that
# comes up (after the ingress, or after a restart) is seen within this, not within
# PROBE_EVERY_S; an "ok" one with a failed probe keeps the slow round (FAILURES_DOWN).
RETRY_EVERY_S = 0.5
PROBE_TIMEOUT_S = 2.0
FAILURES_DOWN = 3

log = structlog.get_logger(__name__)


def container_id(language: str) -> str:
    """The seed's name for a language's executor ("python-1"): one executor service per
    language, as the Knative deployment runs them (docs/deploy-knative.md)."""
    return f"{language}-1"


@dataclass
class Probe:
    """The last answers of one subscriber's GET /health."""

    status: str = "unknown"
    code: int | None = None
    error: str | None = None
    failures: int = 0
    checked_at: str | None = None
    # Why its last report did not fit HealthReport (not shown: the status code decides).
    malformed: str | None = None

    def view(self) -> dict[str, Any]:
        """The `services` entry of /health."""
        answer: dict[str, Any] = {"status": self.status}
        if self.code is not None:
            answer["code"] = self.code
        if self.error:
            answer["error"] = self.error
        if self.checked_at:
            answer["checkedAt"] = self.checked_at
        return answer


class Prober:
    """Probes every subscriber in a background thread, started by the first /health call."""

    def __init__(self, triggers: Sequence[Trigger]) -> None:
        self.urls = sorted({t.subscriber.rstrip("/") for t in triggers})
        # The executors (the subscribers of requested events) answer a HealthReport; the others
        # (the callbacks service) answer their own shape.
        self.executors = {t.subscriber.rstrip("/") for t in triggers if t.serves()}
        self._probes = {url: Probe() for url in self.urls}
        self._lock = threading.Lock()
        self._started = False
        self._first_round = threading.Event()

    def snapshot(self) -> dict[str, Probe]:
        """The latest probe of each subscriber (waits for the first round once, bounded)."""
        with self._lock:
            if not self._started:
                self._started = True
                threading.Thread(target=self._loop, name="health-prober", daemon=True).start()
        self._first_round.wait(PROBE_TIMEOUT_S * 2)
        with self._lock:
            return {url: Probe(**vars(probe)) for url, probe in self._probes.items()}

    def _loop(self) -> None:
        while True:
            for url in self.urls:
                self._probe(url)
            self._first_round.set()
            with self._lock:
                settled = all(probe.status == "ok" for probe in self._probes.values())
            time.sleep(PROBE_EVERY_S if settled else RETRY_EVERY_S)

    def _probe(self, url: str) -> None:
        try:
            answer = requests.get(f"{url}/health", timeout=PROBE_TIMEOUT_S)
            ok, code, error = answer.ok, answer.status_code, None
            malformed = _malformed(answer) if url in self.executors else None
        except requests.RequestException as exc:
            ok, code, error, malformed = False, None, type(exc).__name__, None
        with self._lock:
            probe = self._probes[url]
            if malformed and malformed != probe.malformed:
                log.warning(
                    "executor's health report does not fit its model",
                    url=url,
                    code=code,
                    error=malformed,
                )
            probe.malformed = malformed
            probe.failures = 0 if ok else probe.failures + 1
            probe.code, probe.error, probe.checked_at = code, error, contract.now_iso()
            if ok:
                probe.status = "ok"
            elif probe.failures >= FAILURES_DOWN or probe.status == "unknown":
                probe.status = "down"


def _malformed(answer: requests.Response) -> str | None:
    """Why an executor's /health body is not a HealthReport, or None when it is one. Only a
    success or a JSON body is a report: a proxy's 502 or 503 page in front of a scaled-down
    executor is an answer, not a malformed report."""
    is_json = answer.headers.get("Content-Type", "").startswith("application/json")
    if not (answer.ok or is_json):
        return None
    try:
        HealthReport.model_validate_json(answer.content)
    except ValidationError as exc:
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
        )
    return None


def supervisor_state(path: str | None) -> dict[str, Any] | None:
    """What the one-machine supervisor last wrote about its children (restarts) in the file at
    `path` (SENTINEL_SUPERVISOR_STATE, ingress/settings.py), if it runs us."""
    if not path:
        return None
    try:
        state = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def report(
    client: redis.Redis,
    prefix: str,
    prober: Prober,
    routes: dict[str, str],
    supervisor_state_path: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """The /health document and whether everything is healthy (with the supervisor's state
    from `supervisor_state_path` when it runs us)."""
    checks: dict[str, Any] = {}
    try:
        client.ping()
        checks["redis"] = {"status": "ok"}
        beat = client.get(keys.heartbeat(prefix, "dispatcher"))
        checks["dispatcher"] = {"status": "ok" if beat else "down"}
    except redis.RedisError as exc:
        checks["redis"] = {"status": "down", "error": str(exc)}
        checks["dispatcher"] = {"status": "unknown"}
    checks.update({url: probe.view() for url, probe in prober.snapshot().items()})
    languages = {
        language: {"status": checks[url.rstrip("/")]["status"], "executor": url.rstrip("/")}
        for language, url in sorted(routes.items())
    }
    healthy = all(c["status"] == "ok" for c in checks.values())
    body: dict[str, Any] = {
        "status": "healthy" if healthy else "unhealthy",
        "timestamp": contract.now_iso(),
        "redis": "connected" if checks["redis"]["status"] == "ok" else "disconnected",
        "queues": {
            container_id(language): "healthy" if entry["status"] == "ok" else "unhealthy"
            for language, entry in languages.items()
        },
        "services": checks,
        "languages": languages,
    }
    supervised = supervisor_state(supervisor_state_path)
    if supervised is not None:
        body["supervisor"] = supervised
    return body, healthy
