"""A broker for one test: its own key prefix, its own trigger file, the real dispatcher loops
(in threads of the test process) and the real sink app on a real port."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import yaml
from cloudevents.core.base import BaseCloudEvent
from flask.testing import FlaskClient

from eventing import contract, dispatcher, keys, sink
from eventing.broker import publish
from eventing.settings import EventingSettings
from eventing.store import JobStore
from eventing.triggers import Trigger, load_triggers
from tests.subscriber import serving


def trigger(
    name: str,
    uri: str,
    attributes: dict[str, str] | None = None,
    delivery: dict[str, Any] | None = None,
    concurrency: int = 4,
    filters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Trigger resource, as an operator would write it."""
    spec: dict[str, Any] = {"broker": "sentinel", "subscriber": {"uri": uri}}
    if attributes is not None:
        spec["filter"] = {"attributes": attributes}
    if filters is not None:
        spec["filters"] = filters
    if delivery is not None:
        spec["delivery"] = delivery
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {
            "name": name,
            "annotations": {"sentinel.dev/max-concurrent-deliveries": str(concurrency)},
        },
        "spec": spec,
    }


def requested(job_id: str | None = None, language: str = "python") -> BaseCloudEvent:
    """An execution.requested event for a new job."""
    submission = contract.Submission(
        id=job_id or str(uuid.uuid4()), code="print(1)", language=language
    )
    return contract.make_event(contract.REQUESTED, submission, source="/test", language=language)


def completed(job_id: str, output: str = "1\n", language: str = "python") -> BaseCloudEvent:
    """An execution.completed event, as an executor replies."""
    result = contract.ExecutionResult(
        id=job_id, language=language, verdict="accepted", output=output
    )
    return contract.make_event(contract.COMPLETED, result, source="/test", language=language)


@dataclass
class Broker:
    """The running broker of one test."""

    client: redis.Redis
    settings: EventingSettings
    triggers: list[Trigger]
    store: JobStore
    sink_url: str

    @property
    def prefix(self) -> str:
        return self.settings.key_prefix

    def publish(self, event: BaseCloudEvent) -> list[str]:
        """Publish as the ingress does: a requested event with its queued job record."""
        pipe = self.client.pipeline(transaction=True)
        if event.get_type() == contract.REQUESTED:
            language = str(event.get_extension(contract.LANGUAGE_EXTENSION))
            self.store.advance(str(event.get_subject()), "queued", {"language": language}, pipe)
        matched = publish(pipe, self.prefix, self.triggers, event)
        pipe.execute()
        return matched

    def backlog(self, trigger_name: str) -> tuple[int, int]:
        """(entries in the stream, entries pending) of a trigger."""
        stream = keys.trigger_stream(self.prefix, trigger_name)
        length = int(self.client.xlen(stream))
        try:
            pending = int(self.client.xpending(stream, keys.CONSUMER_GROUP)["pending"])
        except redis.ResponseError:
            pending = 0
        return length, pending


@contextmanager
def running_broker(
    redis_url: str,
    tmp_path: Path,
    resources: list[dict[str, Any]],
    *,
    dispatchers: int = 1,
    claim_idle_ms: int = 1000,
    consumer_expire_ms: int = 3_600_000,
    prefix: str | None = None,
) -> Iterator[Broker]:
    """Start the sink and `dispatchers` dispatchers for `resources` (a `sink-failed` trigger is
    added, routing failed events to the real sink); stop them on exit."""
    prefix = prefix or f"sentinel-brk-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    with ExitStack() as stack:
        base = EventingSettings(
            redis_url=redis_url,
            key_prefix=prefix,
            claim_idle_ms=claim_idle_ms,
            consumer_expire_ms=consumer_expire_ms,
            job_ttl_seconds=3600,
        )
        sink_url = stack.enter_context(serving(sink.create_app(base)))
        everything = [*resources, trigger("sink-failed", sink_url, {"type": contract.FAILED})]
        path = tmp_path / f"triggers-{prefix}.yaml"
        path.write_text(yaml.safe_dump_all(everything))
        triggers = load_triggers(path, {})
        stopping = threading.Event()
        threads = [
            threading.Thread(
                target=dispatcher.run,
                args=(
                    EventingSettings(
                        **{**base.__dict__, "triggers_path": path, "consumer_name": f"d{n}"}
                    ),
                    stopping,
                ),
                daemon=True,
            )
            for n in range(dispatchers)
        ]
        for thread in threads:
            thread.start()
        try:
            yield Broker(client, base, triggers, JobStore(client, prefix, 3600), sink_url)
        finally:
            stopping.set()
            for thread in threads:
                thread.join(15)


def api_and_sink(redis_url: str, name: str) -> tuple[str, FlaskClient, FlaskClient]:
    """(key prefix, ingress test client, sink test client) on one Redis under a new prefix: a
    test plays the dispatcher and the executor itself, moving the events between them."""
    from ingress.app import create_app  # the harness otherwise needs nothing of the ingress
    from ingress.settings import IngressSettings

    prefix = f"sentinel-{name}-{uuid.uuid4().hex[:8]}"
    eventing = EventingSettings(
        redis_url=redis_url,
        key_prefix=prefix,
        triggers_path=Path(__file__).resolve().parent.parent / "config" / "triggers.yaml",
    )
    api = create_app(IngressSettings(eventing=eventing)).test_client()
    return prefix, api, sink.create_app(eventing).test_client()
