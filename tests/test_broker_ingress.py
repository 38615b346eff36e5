"""The broker ingress (eventing.broker_ingress) through the real WSGI stack and a real Redis:
what it takes, what it refuses and why, and what a requested event does to the job store."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from eventing import broker_ingress, contract, keys
from eventing.settings import EventingSettings
from eventing.store import JobStore
from tests.broker_harness import requested

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def prefix() -> str:
    return f"sentinel-bi-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(redis_url: str, prefix: str) -> Iterator[FlaskClient]:
    settings = EventingSettings(
        redis_url=redis_url, key_prefix=prefix, triggers_path=REPO / "config" / "triggers.yaml"
    )
    yield broker_ingress.create_app(settings).test_client()


def stream_events(redis_url: str, prefix: str, trigger: str) -> list[Any]:
    entries = redis.Redis.from_url(redis_url).xrange(keys.trigger_stream(prefix, trigger))
    return [contract.from_structured(fields[b"event"]) for _, fields in entries]


def post_binary(client: FlaskClient, event: Any, path: str = "/") -> Any:
    headers, body = contract.to_binary(event)
    return client.post(path, data=body, headers=headers)


def test_a_requested_event_in_binary_mode_queues_the_job_and_is_published(
    client: FlaskClient, redis_url: str, prefix: str
) -> None:
    event = requested()
    answer = post_binary(client, event)
    assert answer.status_code == 202, answer.json
    assert answer.json["triggers"] == ["execute-python"]
    record = JobStore(redis.Redis.from_url(redis_url), prefix, 60).get(str(event.get_subject()))
    assert record is not None and record["status"] == "queued" and record["language"] == "python"
    (published,) = stream_events(redis_url, prefix, "execute-python")
    assert published.get_id() == event.get_id()


def test_structured_mode_and_knatives_broker_path_work_too(
    client: FlaskClient, redis_url: str, prefix: str
) -> None:
    event = requested()
    answer = client.post(
        "/default/sentinel",
        data=contract.to_structured(event),
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert answer.status_code == 202, answer.json
    assert len(stream_events(redis_url, prefix, "execute-python")) == 1


def test_the_same_job_sent_twice_is_published_once(
    client: FlaskClient, redis_url: str, prefix: str
) -> None:
    event = requested()
    assert post_binary(client, event).status_code == 202
    again = post_binary(client, event)
    assert again.status_code == 202 and again.json["duplicate"] is True
    assert len(stream_events(redis_url, prefix, "execute-python")) == 1
    counters = JobStore(redis.Redis.from_url(redis_url), prefix, 60).counters("python")
    assert counters["totalJobs"] == 1


def test_a_started_event_goes_to_the_sinks_trigger(
    client: FlaskClient, redis_url: str, prefix: str
) -> None:
    started = contract.make_event(
        contract.STARTED,
        contract.Started(id="job-1", executor="e", started_at=contract.now_iso()),
        source="/test",
        language="python",
    )
    answer = post_binary(client, started)
    assert answer.status_code == 202 and answer.json["triggers"] == ["sink-started"]
    assert len(stream_events(redis_url, prefix, "sink-started")) == 1


def _binary(attributes: dict[str, str], data: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    headers = {f"ce-{k}": v for k, v in attributes.items()}
    headers["Content-Type"] = "application/json"
    return headers, json.dumps(data).encode()


GOOD = {"specversion": "1.0", "id": "e1", "source": "/pipe", "type": contract.REQUESTED}


@pytest.mark.parametrize(
    ("attributes", "data", "message"),
    [
        ({}, {}, "not a CloudEvent"),
        ({**GOOD, "type": "com.example.other"}, {}, "unknown event type"),
        ({**GOOD, "subject": "j1", "language": "python"}, {"id": "j1"}, "invalid"),
        (
            {**GOOD, "subject": "j1", "language": "python"},
            {"id": "j1", "code": "x", "language": "python", "surprise": 1},
            "invalid",
        ),
        (
            {**GOOD, "subject": "other", "language": "python"},
            {"id": "j1", "code": "x", "language": "python"},
            "subject must be the job id",
        ),
        (
            {**GOOD, "subject": "j1"},
            {"id": "j1", "code": "x", "language": "python"},
            "extension attribute must equal data.language",
        ),
        (
            {**GOOD, "subject": "j1", "language": "cobol"},
            {"id": "j1", "code": "x", "language": "cobol"},
            "language 'cobol' is not supported",
        ),
        (
            {**GOOD, "subject": "../j1", "language": "python"},
            {"id": "../j1", "code": "x", "language": "python"},
            "data.id must be",
        ),
        ({"specversion": "1.0", "type": contract.REQUESTED}, {}, "not a valid CloudEvent"),
    ],
)
def test_bad_events_are_refused_with_a_reason(
    client: FlaskClient,
    redis_url: str,
    prefix: str,
    attributes: dict[str, str],
    data: dict[str, Any],
    message: str,
) -> None:
    headers, body = _binary(attributes, data)
    answer = client.post("/", data=body, headers=headers)
    assert answer.status_code == 400
    assert message in answer.json["error"], answer.json
    assert stream_events(redis_url, prefix, "execute-python") == []
    assert redis.Redis.from_url(redis_url).keys(f"{prefix}:job:*") == []
