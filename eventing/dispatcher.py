"""The dispatcher: delivers each trigger's backlog to its subscriber over HTTP, at least once.

One loop per trigger reads its stream with a consumer group and hands entries to a bounded pool
of delivery threads (the trigger's concurrency). A delivery POSTs the event in CloudEvents binary
mode, retries with the trigger's backoff on 5xx, 408, 429, timeouts and connection errors, and
only after a 2xx publishes the reply (if the response carries one) and removes the entry, in one
transaction. Entries left pending by a dispatcher that died are taken over with XAUTOCLAIM once
idle for `claim_idle_ms`; a delivery in progress renews its entry before each attempt.

When the last attempt fails, a requested event becomes `execution.failed` (the job is marked
failed with the reason) and goes to the trigger's dead-letter sink if it has one. Other events
(results on their way to the sink) are never dropped for a fault of ours: they stay pending and
are tried again after the claim interval.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
import requests
import structlog
from cloudevents.core.base import BaseCloudEvent

from eventing import contract, keys, logs
from eventing.broker import EVENT_FIELD, publish
from eventing.settings import EventingSettings
from eventing.triggers import Trigger, load_triggers

log = structlog.get_logger(__name__)

RETRYABLE = frozenset({408, 429})
HEARTBEAT_TTL_S = 10


class Delivery:
    """What an attempt came to: delivered, worth retrying, or refused for good."""

    DONE = "done"
    RETRY = "retry"
    REFUSED = "refused"


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
        self.local = threading.local()

    def run(self) -> None:
        """Deliver until `stopping` is set; then finish the deliveries in flight."""
        self._ensure_group()
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
                    pool.submit(self._deliver_and_release, entry_id, fields)

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
            keys.CONSUMER_GROUP, self.consumer, {self.stream: ">"}, count=count, block=1000
        )
        return list(answer[0][1]) if answer else []

    def _reclaim(self, count: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        answer: Any = self.client.xautoclaim(
            self.stream,
            keys.CONSUMER_GROUP,
            self.consumer,
            min_idle_time=self.settings.claim_idle_ms,
            start_id="0-0",
            count=count,
        )
        claimed = [(entry_id, fields) for entry_id, fields in answer[1] if fields]
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
            self.slots.release()

    def _deliver(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        try:
            event = contract.from_structured(fields[EVENT_FIELD.encode()])
        except (contract.ContractError, KeyError) as exc:
            log.error("dropping unreadable entry", trigger=self.trigger.name, error=str(exc))
            self._finish(entry_id)
            return
        delivery = self.trigger.delivery
        reason = ""
        for attempt in range(delivery.retry + 1):
            if attempt and self.stopping.wait(delivery.backoff(attempt)):
                return  # shutting down: the entry stays pending and will be reclaimed
            self._renew(entry_id)
            result, reason, reply = self._attempt(event)
            if result == Delivery.DONE:
                self._finish(entry_id, reply)
                return
            log.warning(
                "delivery failed",
                trigger=self.trigger.name,
                job=event.get_subject(),
                requestid=event.get_extension("requestid"),
                attempt=attempt + 1,
                reason=reason,
            )
            if result == Delivery.REFUSED:
                break
        self._dead_letter(entry_id, event, reason)

    def _attempt(self, event: BaseCloudEvent) -> tuple[str, str, BaseCloudEvent | None]:
        headers, body = contract.to_binary(event)
        try:
            response = self._session().post(
                self.trigger.subscriber,
                data=body,
                headers=headers,
                timeout=self.trigger.delivery.timeout,
            )
        except requests.RequestException as exc:
            return Delivery.RETRY, f"{type(exc).__name__}: {exc}", None
        if 200 <= response.status_code < 300:
            if not response.content or not contract.is_cloudevent(response.headers):
                return Delivery.DONE, "", None
            try:
                reply = contract.from_http(dict(response.headers), response.content)
                contract.payload_of(reply)
            except contract.ContractError as exc:
                return Delivery.REFUSED, f"invalid reply from subscriber: {exc}", None
            return Delivery.DONE, "", reply
        reason = f"subscriber answered {response.status_code}: {response.text[:200]}"
        if response.status_code >= 500 or response.status_code in RETRYABLE:
            return Delivery.RETRY, reason, None
        return Delivery.REFUSED, reason, None

    def _dead_letter(self, entry_id: bytes, event: BaseCloudEvent, reason: str) -> None:
        sink = self.trigger.delivery.dead_letter_sink
        if sink:
            headers, body = contract.to_binary(event)
            try:
                self._session().post(sink, data=body, headers=headers, timeout=10)
            except requests.RequestException as exc:
                log.error("dead-letter sink unreachable", sink=sink, error=str(exc))
        if event.get_type() == contract.REQUESTED:
            failed = contract.make_event(
                contract.FAILED,
                contract.Failed(id=str(event.get_subject()), reason=reason),
                source="/sentinel/dispatcher",
                language=event.get_extension(contract.LANGUAGE_EXTENSION),
            )
            log.error(
                "dead-lettered", trigger=self.trigger.name, job=event.get_subject(), reason=reason
            )
            self._finish(entry_id, failed)
        elif sink:
            self._finish(entry_id)
        else:
            log.error(
                "kept for a later retry",
                trigger=self.trigger.name,
                job=event.get_subject(),
                reason=reason,
            )

    def _finish(self, entry_id: bytes, reply: BaseCloudEvent | None = None) -> None:
        """Publish the reply (if any) and remove the entry, atomically."""
        pipe = self.client.pipeline(transaction=True)
        if reply is not None:
            publish(pipe, self.settings.key_prefix, self.triggers, reply)
        pipe.xack(self.stream, keys.CONSUMER_GROUP, entry_id)
        pipe.xdel(self.stream, entry_id)
        pipe.execute()

    def _renew(self, entry_id: bytes) -> None:
        """Reset the entry's idle time so no other dispatcher takes it over mid-delivery."""
        self.client.xclaim(
            self.stream,
            keys.CONSUMER_GROUP,
            self.consumer,
            min_idle_time=0,
            message_ids=[entry_id],
            justid=True,
        )

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        return session


def run(settings: EventingSettings, stopping: threading.Event) -> None:
    """Run one loop per trigger until `stopping` is set, renewing the heartbeat meanwhile."""
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
        except redis.RedisError as exc:
            log.warning("heartbeat failed", error=str(exc))
        stopping.wait(HEARTBEAT_TTL_S / 3)
    for thread in threads:
        thread.join()
    log.info("dispatcher stopped")


def main() -> None:
    """`python -m eventing.dispatcher`: SIGTERM or SIGINT stop it after in-flight deliveries."""
    logs.configure("dispatcher")
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    run(EventingSettings.from_env(), stopping)


if __name__ == "__main__":
    main()
