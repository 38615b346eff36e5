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
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
import structlog
from cloudevents.core.base import BaseCloudEvent

from eventing import contract

log = structlog.get_logger(__name__)

SEND_TIMEOUT_S = 2.0


def _nothing() -> None:
    pass


@dataclass
class _Due:
    """A started event to send at `at` (monotonic seconds) unless its job ends first."""

    at: float
    job: str
    language: str
    started_at: str
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class StartedEvents:
    """Posts `execution.started` for each job to the sink URL, if there is one."""

    def __init__(self, sink_url: str | None, executor: str, delay_s: float = 0.25) -> None:
        self.sink_url = sink_url or None
        self.executor = executor
        # Jobs finished sooner than this send no started event (see announce()).
        self.delay_s = delay_s
        self._pool = ThreadPoolExecutor(2, "started-events") if self.sink_url else None
        self._local = threading.local()  # one keep-alive session per sending thread
        # Every job waits the same delay, so the queue is in the order of its deadlines.
        self._due: deque[_Due] = deque()
        self._wake = threading.Condition()
        self._waiter: threading.Thread | None = None

    def announce(self, submission: contract.Submission, language: str) -> Callable[[], None]:
        """Queue the started event for `submission`; returns at once, with a function to call
        when the job is finished.

        The event is sent only if the job is still running `delay_s` later (the returned
        function cancels it). A job that short would show "running" to nobody, and its started
        event cost three HTTP requests (here to the broker ingress, the dispatcher to the sink)
        and five Redis round trips on a machine the runs need. One thread waits for every job's
        delay (a threading.Timer per job was a thread started per job), and the event is only
        built when it is sent.
        """
        if self._pool is None:
            return _nothing
        due = _Due(time.monotonic() + self.delay_s, submission.id, language, contract.now_iso())
        with self._wake:
            self._due.append(due)
            if self._waiter is None:  # started here, in the worker, never before a fork
                self._waiter = threading.Thread(target=self._wait, name="started-due", daemon=True)
                self._waiter.start()
            if len(self._due) == 1:  # else the waiter is already waiting for an earlier one
                self._wake.notify()
        return due.cancel

    def _wait(self) -> None:
        """Hand each due event that was not cancelled to the sending pool, in order."""
        assert self._pool is not None
        while True:
            with self._wake:
                while not self._due:
                    self._wake.wait()
                first = self._due[0]
                left = first.at - time.monotonic()
                if left > 0 and not first.cancelled:
                    self._wake.wait(left)
                    continue
                self._due.popleft()
            if not first.cancelled:
                self._pool.submit(self._send, self._event(first))

    def _event(self, due: _Due) -> BaseCloudEvent:
        return contract.make_event(
            contract.STARTED,
            contract.Started(id=due.job, executor=self.executor, started_at=due.started_at),
            source=f"/sentinel/{self.executor}",
            language=due.language,
        )

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
