"""The job store against a real Redis: records only move forward, and they expire."""

from __future__ import annotations

import uuid

import redis

from eventing import keys
from eventing.store import JobStore


def make_store(redis_url: str, key_prefix: str, ttl: int = 3600) -> tuple[JobStore, redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    return JobStore(client, key_prefix, ttl), client


def test_a_job_moves_forward_and_never_back(redis_url: str, key_prefix: str) -> None:
    store, _ = make_store(redis_url, key_prefix)
    job = str(uuid.uuid4())
    assert store.advance(job, "queued", {"language": "python"}, timestamp="T0")
    assert store.advance(job, "running", {"executor": "e1"})
    assert store.advance(job, "completed", {"result": '{"verdict": "accepted"}'})
    assert not store.advance(job, "running", {"executor": "late"})
    assert not store.advance(job, "queued")
    assert not store.advance(job, "completed", {"result": '{"verdict": "wrong_answer"}'})
    assert not store.advance(job, "failed", {"reason": "too late"})
    record = store.get(job)
    assert record is not None
    assert record["status"] == "completed"
    assert record["result"] == {"verdict": "accepted"}
    assert record["executor"] == "e1"
    assert record["timestamp"] == "T0"
    assert "reason" not in record


def test_a_result_for_a_job_it_never_saw_creates_the_record(
    redis_url: str, key_prefix: str
) -> None:
    store, _ = make_store(redis_url, key_prefix)
    job = str(uuid.uuid4())
    assert store.advance(job, "completed", {"result": "{}"})
    record = store.get(job)
    assert record is not None and record["id"] == job and record["timestamp"]


def test_records_expire_after_the_retention(redis_url: str, key_prefix: str) -> None:
    store, client = make_store(redis_url, key_prefix, ttl=120)
    job = str(uuid.uuid4())
    store.advance(job, "queued")
    assert 0 < int(client.ttl(keys.job(key_prefix, job))) <= 120


def test_an_unknown_job_is_none(redis_url: str, key_prefix: str) -> None:
    store, _ = make_store(redis_url, key_prefix)
    assert store.get("nope") is None
