"""The dispatcher: delivers each trigger's backlog to its subscriber over HTTP, at least once.

One loop per trigger reads its stream with a consumer group and hands entries to a bounded pool
of delivery threads (the trigger's concurrency). A delivery POSTs the event in CloudEvents binary
mode, retries with the trigger's backoff on 5xx, 408, 429, timeouts and connection errors, and
only after a 2xx publishes the reply (if the response carries one) and removes the entry, in one
transaction. Entries left pending by a dispatcher that died are taken over with XAUTOCLAIM once
idle for `claim_idle_ms`; while a delivery is in progress a renewal thread keeps resetting its
entry's idle time (XCLAIM JUSTID), so a slow job is never taken over from a live dispatcher.

When the last attempt fails, or the subscriber refuses the event with a 4xx other than 408/429,
the event goes to the trigger's dead-letter sink if it has one (with Knative's knativeerror*
extension attributes), and a requested event becomes `execution.failed` (the job is marked
failed with the reason). Other events are not dropped for a fault of the subscriber's that may
pass: with no dead-letter sink they stay pending and are tried again after the claim interval;
only an event the subscriber refuses (a 4xx) and that has nowhere else to go is dropped, logged.

Consumers of the group that have been idle for `consumer_expire_ms` with nothing pending are
removed (atomically, in Lua, so a consumer that just read something is never removed).
"""

from __future__ import annotations

import base64
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import structlog
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.v1.event import CloudEvent

from eventing import contract, delivery_http, keys, logs
from eventing.broker import EVENT_FIELD, publish
from eventing.settings import DispatcherSettings, EventingSettings
from eventing.triggers import Trigger, load_triggers

log = structlog.get_logger(__name__)

RETRYABLE = frozenset({408, 429})
# Beyond a job's worst case: the executor's queueing, replies and the hop back.
DELIVERY_MARGIN_S = 30.0
HEARTBEAT_TTL_S = 10


# Removes consumers idle longer than ARGV[1] ms with nothing pending, except ARGV[2] (ourselves).
_FORGET_IDLE_CONSUMERS = """
local removed = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], KEYS[2])) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if info['name'] ~= ARGV[2] and tonumber(info['pending']) == 0
      and tonumber(info['idle']) > tonumber(ARGV[1]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], KEYS[2], info['name'])
    removed = removed + 1
  end
end
return removed
"""


class Delivery:
    """What an attempt came to: delivered, worth retrying, or refused for good."""

    DONE = "done"
    RETRY = "retry"
    REFUSED = "refused"


@dataclass(frozen=True)
class AttemptOutcome:
    """One attempt's result, with what a dead letter reports (Knative's knativeerror*)."""

    result: str
    reason: str = ""
    reply: BaseCloudEvent | None = None
    code: int | None = None
    body: bytes = b""


class TriggerLoop:
    """Reads one trigger's stream and delivers its entries, at most `concurrency` at a time."""

    def __init__(
        self,
        client: redis.Redis,
        settings: EventingSettings,
        trigger: Trigger,
        triggers: Sequence[Trigger],
        stopping: threading.Event,
    ) -> None:
        self.client = client
        self.settings = settings
        self.trigger = trigger
        self.triggers = triggers
        self.stopping = stopping
        self.stream = keys.trigger_stream(settings.key_prefix, trigger.name)
        self.consumer = settings.consumer_name
        self.slots = threading.BoundedSemaphore(trigger.concurrency)
        # Kept-alive connections, one per delivery thread (eventing/delivery_http.py says why
        # not urllib3). An answer is held to 4 results of the largest size the sink keeps
        # (SENTINEL_MAX_RESULT_BYTES, whose description says so).
        self.http = delivery_http.Client(max(16 << 20, 4 * settings.max_result_bytes))
        self.in_flight: set[bytes] = set()
        self.in_flight_lock = threading.Lock()
        self.claim_cursor = "0-0"
        self.forget = client.register_script(_FORGET_IDLE_CONSUMERS)
        # Block on reads for a fraction of the claim interval, so reclaims are never late.
        self.block_ms = max(50, min(1000, settings.claim_idle_ms // 4))

    def run(self) -> None:
        """Deliver until `stopping` is set; then finish the deliveries in flight."""
        self._ensure_group()
        renewer = threading.Thread(target=self._keep_renewing, name=f"renew-{self.trigger.name}")
        renewer.start()
        with ThreadPoolExecutor(self.trigger.concurrency, f"deliver-{self.trigger.name}") as pool:
            next_claim = 0.0
            while not self.stopping.is_set():
                free = self._acquire_slots()
                if not free:
                    continue
                try:
                    entries: list[tuple[bytes, dict[bytes, bytes]]] = []
                    if time.monotonic() >= next_claim:
                        entries = self._reclaim(free)
                        next_claim = time.monotonic() + self.settings.claim_idle_ms / 2000
                    if not entries:
                        entries = self._read(free)
                except redis.RedisError as exc:
                    log.warning("redis unavailable", trigger=self.trigger.name, error=str(exc))
                    entries = []
                    self.stopping.wait(1)
                for _ in range(free - len(entries)):
                    self.slots.release()
                for entry_id, fields in entries:
                    with self.in_flight_lock:
                        self.in_flight.add(entry_id)
                    pool.submit(self._deliver_and_release, entry_id, fields)
        renewer.join()

    def _keep_renewing(self) -> None:
        """Reset the idle time of every entry in flight, three times per claim interval, and
        now and then forget consumers long dead."""
        interval = self.settings.claim_idle_ms / 3000
        next_forget = 0.0
        while not self.stopping.wait(interval):
            with self.in_flight_lock:
                entry_ids = list(self.in_flight)
            try:
                if entry_ids:
                    self._renew(*entry_ids)
                if time.monotonic() >= next_forget:
                    next_forget = time.monotonic() + 60
                    self._forget_idle_consumers()
            except redis.RedisError as exc:
                log.warning("renewal failed", trigger=self.trigger.name, error=str(exc))

    def _forget_idle_consumers(self) -> None:
        removed = self.forget(
            keys=[self.stream, keys.CONSUMER_GROUP],
            args=[self.settings.consumer_expire_ms, self.consumer],
        )
        if removed:
            log.info("forgot idle consumers", trigger=self.trigger.name, consumers=removed)

    def _acquire_slots(self) -> int:
        if not self.slots.acquire(timeout=0.5):
            return 0
        free = 1
        while free < self.trigger.concurrency and self.slots.acquire(blocking=False):
            free += 1
        return free

    def _ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, keys.CONSUMER_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read(self, count: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        answer: Any = self.client.xreadgroup(
            keys.CONSUMER_GROUP, self.consumer, {self.stream: ">"}, count=count, block=self.block_ms
        )
        return list(answer[0][1]) if answer else []

    def _reclaim(self, count: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Take over entries idle past the claim interval (their consumer died), walking the
        pending list with XAUTOCLAIM's cursor so a long list is covered across passes."""
        answer: Any = self.client.xautoclaim(
            self.stream,
            keys.CONSUMER_GROUP,
            self.consumer,
            min_idle_time=self.settings.claim_idle_ms,
            start_id=self.claim_cursor,
            count=count,
        )
        cursor = answer[0]
        self.claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        with self.in_flight_lock:
            # One of ours that the renewer was late for is still being delivered: leave it.
            claimed = [
                (entry_id, fields)
                for entry_id, fields in answer[1]
                if fields and entry_id not in self.in_flight
            ]
        if claimed:
            log.info("reclaimed", trigger=self.trigger.name, entries=len(claimed))
        return claimed

    def _deliver_and_release(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        try:
            self._deliver(entry_id, fields)
        except Exception:
            # Left pending: another pass (ours or another dispatcher's) will reclaim it.
            log.exception("delivery crashed", trigger=self.trigger.name, entry=entry_id)
        finally:
            with self.in_flight_lock:
                self.in_flight.discard(entry_id)
            self.slots.release()

    def _deliver(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        try:
            event = contract.from_structured(fields[EVENT_FIELD.encode()])
        except (contract.ContractError, KeyError) as exc:
            log.error("dropping unreadable entry", trigger=self.trigger.name, error=str(exc))
            self._finish(entry_id)
            return
        delivery = self.trigger.delivery
        outcome = AttemptOutcome(Delivery.RETRY)
        for attempt in range(delivery.retry + 1):
            if attempt and self.stopping.wait(delivery.backoff(attempt)):
                return  # shutting down: the entry stays pending and will be reclaimed
            outcome = self._attempt(event)
            if outcome.result == Delivery.DONE:
                self._finish(entry_id, outcome.reply)
                return
            log.warning(
                "delivery failed",
                trigger=self.trigger.name,
                job=event.get_subject(),
                requestid=event.get_extension("requestid"),
                attempt=attempt + 1,
                reason=outcome.reason,
            )
            if outcome.result == Delivery.REFUSED:
                break
        self._dead_letter(entry_id, event, outcome)

    def _attempt(self, event: BaseCloudEvent) -> AttemptOutcome:
        headers, body = contract.to_binary(event)
        try:
            response = self.http.post(
                self.trigger.subscriber,
                body,
                headers,
                _timeout_for(event, self.trigger.delivery.timeout),
            )
        except delivery_http.HTTPFailure as exc:
            return AttemptOutcome(Delivery.RETRY if exc.retryable else Delivery.REFUSED, str(exc))
        code, content = response.status, response.body
        if 200 <= code < 300:
            if not content or not contract.is_cloudevent(response.headers):
                return AttemptOutcome(Delivery.DONE)
            try:
                reply = contract.from_http(response.headers, content)
                contract.payload_of(reply)
            except contract.ContractError as exc:
                reason = f"invalid reply from subscriber: {exc}"
                return AttemptOutcome(Delivery.REFUSED, reason, code=code, body=content)
            return AttemptOutcome(Delivery.DONE, reply=reply)
        reason = f"subscriber answered {code}: {content[:200].decode(errors='replace')}"
        if code >= 500 or code in RETRYABLE:
            return AttemptOutcome(Delivery.RETRY, reason, code=code, body=content)
        return AttemptOutcome(Delivery.REFUSED, reason, code=code, body=content)

    def _dead_letter(self, entry_id: bytes, event: BaseCloudEvent, outcome: AttemptOutcome) -> None:
        """The event could not be delivered: tell the dead-letter sink and, for a job, fail it."""
        sink = self.trigger.delivery.dead_letter_sink
        reason = outcome.reason
        dead_lettered = bool(sink) and self._post_dead_letter(str(sink), event, outcome)
        if event.get_type() == contract.REQUESTED:
            failed = contract.make_event(
                contract.FAILED,
                contract.Failed(id=str(event.get_subject()), reason=reason),
                source="/sentinel/dispatcher",
                language=event.get_extension(contract.LANGUAGE_EXTENSION),
                callback=_has_callback(event),
            )
            log.error(
                "job failed", trigger=self.trigger.name, job=event.get_subject(), reason=reason
            )
            self._finish(entry_id, failed)
        elif dead_lettered:
            self._finish(entry_id)
        elif outcome.result == Delivery.REFUSED:
            log.error(
                "dropped: refused by the subscriber, no dead-letter sink",
                trigger=self.trigger.name,
                job=event.get_subject(),
                reason=reason,
            )
            self._finish(entry_id)
        else:
            self._renew(entry_id)  # tried again one full claim interval from now
            log.error(
                "kept for a later retry",
                trigger=self.trigger.name,
                job=event.get_subject(),
                reason=reason,
            )

    def _post_dead_letter(self, sink: str, event: BaseCloudEvent, outcome: AttemptOutcome) -> bool:
        """POST the event to the dead-letter sink with Knative's error attributes; True on 2xx."""
        attributes = dict(event.get_attributes())
        attributes["knativeerrordest"] = self.trigger.subscriber
        if outcome.code is not None:
            attributes["knativeerrorcode"] = str(outcome.code)
        data = outcome.body[:1024] or outcome.reason.encode()
        attributes["knativeerrordata"] = base64.b64encode(data).decode()
        headers, body = contract.to_binary(CloudEvent(attributes, event.get_data()))
        try:
            answer = self.http.post(sink, body, headers, timeout=10.0)
        except delivery_http.HTTPFailure as exc:
            log.error("dead-letter sink unreachable", sink=sink, error=str(exc))
            return False
        ok = 200 <= answer.status < 400
        if not ok:
            log.error("dead-letter sink refused", sink=sink, code=answer.status)
        return ok

    def _finish(self, entry_id: bytes, reply: BaseCloudEvent | None = None) -> None:
        """Publish the reply (if any) and remove the entry, atomically."""
        pipe = self.client.pipeline(transaction=True)
        if reply is not None:
            publish(pipe, self.settings.key_prefix, self.triggers, reply)
        pipe.xack(self.stream, keys.CONSUMER_GROUP, entry_id)
        pipe.xdel(self.stream, entry_id)
        pipe.execute()

    def _renew(self, *entry_ids: bytes) -> None:
        """Reset the entries' idle time so no other dispatcher takes them over mid-delivery."""
        self.client.xclaim(
            self.stream,
            keys.CONSUMER_GROUP,
            self.consumer,
            min_idle_time=0,
            message_ids=list(entry_ids),
            justid=True,
        )


def run(
    settings: EventingSettings, stopping: threading.Event, heartbeat_file: str | None = None
) -> None:
    """Run one loop per trigger until `stopping` is set, renewing the heartbeat meanwhile
    (in Redis for /health and /metrics; in `heartbeat_file` too, if given, for `--check`)."""
    client = redis.Redis.from_url(settings.redis_url)
    triggers = load_triggers(settings.triggers_path, settings.service_urls, settings.namespace)
    threads = [
        threading.Thread(
            target=TriggerLoop(client, settings, t, triggers, stopping).run,
            name=f"trigger-{t.name}",
        )
        for t in triggers
    ]
    for thread in threads:
        thread.start()
    log.info("dispatching", triggers=[t.name for t in triggers], consumer=settings.consumer_name)
    heartbeat = keys.heartbeat(settings.key_prefix, "dispatcher")
    while not stopping.is_set():
        try:
            client.set(heartbeat, settings.consumer_name, ex=HEARTBEAT_TTL_S)
            _touch(heartbeat_file)
        except redis.RedisError as exc:
            log.warning("heartbeat failed", error=str(exc))
        stopping.wait(HEARTBEAT_TTL_S / 3)
    for thread in threads:
        thread.join()
    log.info("dispatcher stopped")


def _timeout_for(event: BaseCloudEvent, configured: float) -> float:
    """How long to wait for a subscriber: the trigger's timeout, or for a job the job's own
    worst case (contract.worst_case_ms) when that is longer, so that a long job is never given
    to a second executor while the first still runs it."""
    if event.get_type() != contract.REQUESTED:
        return configured
    try:
        submission = contract.payload_of(event)
    except contract.ContractError:
        return configured
    assert isinstance(submission, contract.Submission)
    return max(configured, contract.worst_case_ms(submission) / 1000 + DELIVERY_MARGIN_S)


def _has_callback(event: BaseCloudEvent) -> bool:
    """Whether a requested event's submission asks for a callback (its failure must reach it)."""
    data = event.get_data()
    return isinstance(data, dict) and bool(data.get("callbackUrl"))


# --- health check for an exec probe (the dispatcher serves no HTTP) ---------------------------
# The Redis heartbeat key is one per deployment (replicas overwrite it), so it cannot tell
# whether *this* pod works; a file in the pod can. The loop above touches
# SENTINEL_HEARTBEAT_FILE after each successful heartbeat in Redis, and
# `python -m eventing.dispatcher --check` (the Deployment's readiness probe) exits 0 only if the
# file was touched within HEARTBEAT_TTL_S: the process is alive, its loop turns, Redis answers.

HEARTBEAT_FILE_ENV = "SENTINEL_HEARTBEAT_FILE"


def _touch(path: str | None) -> None:
    if path:
        try:
            Path(path).touch()
        except OSError as exc:
            log.warning("heartbeat file not written", path=path, error=str(exc))


def check(path: str | None, now: float | None = None) -> str | None:
    """Why the heartbeat file at `path` shows no healthy dispatcher, or None when it is fresh."""
    if not path:
        return f"{HEARTBEAT_FILE_ENV} is not set"
    try:
        age = (time.time() if now is None else now) - Path(path).stat().st_mtime
    except OSError as exc:
        return f"no heartbeat file: {exc}"
    if age > HEARTBEAT_TTL_S:
        return f"heartbeat is {age:.0f}s old (more than {HEARTBEAT_TTL_S}s)"
    return None


def main() -> None:
    """`python -m eventing.dispatcher`: SIGTERM or SIGINT stop it after in-flight deliveries.
    With `--check`: exit 0 if this pod's dispatcher is healthy (see check()), else 1."""
    settings = DispatcherSettings.from_env()
    heartbeat_file = settings.heartbeat_file
    if sys.argv[1:] == ["--check"]:
        problem = check(heartbeat_file)
        if problem:
            print(problem, file=sys.stderr)
        sys.exit(1 if problem else 0)
    logs.configure("dispatcher")
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    run(settings, stopping, heartbeat_file)


if __name__ == "__main__":
    main()
