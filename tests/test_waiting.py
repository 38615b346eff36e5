"""?wait=true (ingress/waiting.py) against a real Redis: a job's done channel watched from
before the job is queued is answered without a first read of the record, and a watch made
before the listener's subscription is in place still reads first; through the API, a job that
finishes (through the real sink) while its request waits is answered 200 with its result."""

from __future__ import annotations

import json
import threading
import uuid

import redis

from eventing import keys
from eventing.contract import from_structured, to_binary
from eventing.store import JobStore
from ingress.waiting import Listener, Watch, wait_for_finish
from tests.broker_harness import api_and_sink, completed


def _finish(store: JobStore, job_id: str) -> None:
    result = json.dumps({"id": job_id})
    store.advance(job_id, "completed", {"result": result, "verdict": "accepted"})


def test_a_job_watched_before_it_is_queued_is_answered_when_it_finishes(redis_url: str) -> None:
    prefix = f"sentinel-wait-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    store = JobStore(client, prefix, 60)
    listener = Listener(redis.Redis.from_url(redis_url), prefix)
    listener.register("warm-up")  # starts the listener
    assert listener.ready(5)
    listener.forget("warm-up")
    job_id = str(uuid.uuid4())
    with listener.watching(keys.job_done(prefix, job_id)) as watch:
        assert watch.live  # subscribed before the watch: no first read is needed
        store.advance(job_id, "queued", {"language": "python"})
        finisher = threading.Timer(0.2, _finish, (store, job_id))
        finisher.start()
        record = wait_for_finish(listener, store, job_id, 10, watch)
        finisher.join()
    assert record is not None and record["status"] == "completed"
    # Finished before the wait began (between queuing and waiting): the notification set the
    # watch, so the wait reads at once.
    other = str(uuid.uuid4())
    with listener.watching(keys.job_done(prefix, other)) as watch:
        store.advance(other, "queued", {"language": "python"})
        _finish(store, other)
        assert watch.woken.wait(5)
        record = wait_for_finish(listener, store, other, 10, watch)
    assert record is not None and record["status"] == "completed"


def test_a_watch_made_before_the_subscription_reads_the_record_first(redis_url: str) -> None:
    prefix = f"sentinel-wait-{uuid.uuid4().hex[:8]}"
    store = JobStore(redis.Redis.from_url(redis_url), prefix, 60)
    listener = Listener(redis.Redis.from_url(redis_url), prefix)
    job_id = str(uuid.uuid4())
    store.advance(job_id, "queued", {"language": "python"})
    _finish(store, job_id)  # its notification went out before anyone listened
    channel = keys.job_done(prefix, job_id)
    watch = Watch(channel, listener.register(channel), live=False)
    try:
        record = wait_for_finish(listener, store, job_id, 10, watch)
    finally:
        listener.forget(channel)
    assert record is not None and record["status"] == "completed"


def test_wait_true_answers_the_result_of_a_job_finished_while_it_waits(redis_url: str) -> None:
    prefix, api, results = api_and_sink(redis_url, "wait")
    client = redis.Redis.from_url(redis_url)
    stream = keys.trigger_stream(prefix, "execute-python")

    def executor() -> None:  # what the dispatcher and an executor would answer, via the sink
        entries = client.xread({stream: "0"}, block=10_000, count=1)
        (_, [(_, fields)]) = entries[0]
        job_id = from_structured(fields[b"event"]).get_subject()
        headers, body = to_binary(completed(str(job_id), output="hi\n"))
        assert results.post("/", data=body, headers=headers).status_code == 204

    finisher = threading.Thread(target=executor)
    finisher.start()
    answer = api.post(
        "/api/execute?wait=true&timeout=10", json={"language": "python", "code": "print('hi')"}
    )
    finisher.join()
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "completed"
    assert answer.json["output"] == "hi\n"
