"""Events the executor publishes on its own: `execution.started`, sent to the broker's ingress.

Knative's way: a SinkBinding injects K_SINK (the URL to send events to) into the service's
environment. When K_SINK is unset the executor publishes nothing (the job goes from queued
straight to completed). Sending is off the job's path: a small background pool posts the event,
so a slow or absent broker never delays a run; a lost started event costs only the "running"
status, and a late one changes nothing (the job store only moves forward). A job that finishes
within SENTINEL_STARTED_DELAY_S (250 ms by default; K_SINK and it are read by functions/settings.py)
sends none: it goes from queued to completed, as without K_SINK (docs/broker.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests
import structlog
from cloudevents.core.base import BaseCloudEvent

from eventing import contract

log = structlog.get_logger(__name__)

SEND_TIMEOUT_S = 2.0


def _nothing() -> None:
    pass


class StartedEvents:
    """Posts `execution.started` for each job to the sink URL, if there is one."""

    def __init__(self, sink_url: str | None, executor: str, delay_s: float = 0.25) -> None:
        self.sink_url = sink_url or None
        self.executor = executor
        # Jobs finished sooner than this send no started event (see announce()).
        self.delay_s = delay_s
        self._pool = ThreadPoolExecutor(2, "started-events") if self.sink_url else None
        self._local = threading.local()  # one keep-alive session per sending thread

    def announce(self, submission: contract.Submission, language: str) -> Callable[[], None]:
        """Queue the started event for `submission`; returns at once, with a function to call
        when the job is finished.

        The event is sent only if the job is still running `delay_s` later (a
        timer the returned function cancels). A job that short would show "running" to nobody,
        and its started event cost three HTTP requests (here to the broker ingress, the
        dispatcher to the sink) and five Redis round trips on a machine the runs need.
        """
        if self._pool is None:
            return _nothing
        event = contract.make_event(
            contract.STARTED,
            contract.Started(
                id=submission.id, executor=self.executor, started_at=contract.now_iso()
            ),
            source=f"/sentinel/{self.executor}",
            language=language,
        )
        pool = self._pool
        timer = threading.Timer(self.delay_s, pool.submit, (self._send, event))
        timer.daemon = True
        timer.start()
        return timer.cancel

    def _send(self, event: BaseCloudEvent) -> None:
        assert self.sink_url is not None
        headers, body = contract.to_binary(event)
        try:
            answer = self._session().post(
                self.sink_url, data=body, headers=headers, timeout=SEND_TIMEOUT_S
            )
            if not answer.ok:
                log.warning("started event refused", code=answer.status_code, body=answer.text)
        except requests.RequestException as exc:
            log.warning("started event not sent", sink=self.sink_url, error=str(exc))

    def _session(self) -> requests.Session:
        # reuse the connection to the broker ingress (no TCP connect per job)
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session
