"""The dispatcher against a real Redis and real HTTP subscribers: retries and their backoff
(measured by the gaps between arrivals), dead letters, failed jobs, replies, reclaims.

Timing assertions are lower bounds with generous upper slack: they prove the backoff is waited,
never how fast the machine is. That a delivery did not happen is proved without a sleep: an entry
leaves its stream only once its delivery is over (eventing/dispatcher.py removes it with its
reply, in one transaction), and only an entry in the stream can be delivered (again); so a test
waits for the stream to be empty, or for a later event that would have come after, then counts.
"""

from __future__ import annotations

import base64
import itertools
import time
import uuid
from pathlib import Path

from werkzeug.wrappers import Request, Response

from eventing import contract, keys
from tests.broker_harness import Broker, completed, requested, running_broker, trigger
from tests.subscriber import Call, subscriber

REQ = {"type": contract.REQUESTED, "language": "python"}


def gaps(calls: list[Call]) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(calls)]


def wait_until(check: object, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def wait_job(broker: Broker, job_id: str, status: str) -> dict[str, object]:
    wait_until(lambda: (broker.store.get(job_id) or {}).get("status") == status)
    record = broker.store.get(job_id)
    assert record is not None
    return record


def test_5xx_408_and_429_are_retried_with_exponential_backoff(
    redis_url: str, tmp_path: Path
) -> None:
    with subscriber() as sub:
        uri = sub.script("/exec", 500, 408, 429, 204)
        delivery = {"retry": 3, "backoffPolicy": "exponential", "backoffDelay": "PT0.2S"}
        with running_broker(redis_url, tmp_path, [trigger("t", uri, REQ, delivery)]) as broker:
            event = requested()
            broker.publish(event)
            calls = sub.wait_for("/exec", 4)
            wait_until(lambda: broker.backlog("t") == (0, 0))
            assert wait_job(broker, str(event.get_subject()), "queued")
        assert len(sub.calls_to("/exec")) == 4
        assert all(c.event().get_subject() == event.get_subject() for c in calls)
        first, second, third = gaps(calls)
        assert 0.2 <= first < 1.5
        assert 0.4 <= second < 2.0
        assert 0.8 <= third < 3.0
        assert second > first and third > second  # doubling, not constant


def test_linear_backoff_and_a_timeout_is_retried(redis_url: str, tmp_path: Path) -> None:
    with subscriber() as sub:
        # The first attempt outlives the 0.3 s timeout; then one 503; then delivered. (A
        # completed event: a requested one waits for its job's worst case, below.)
        uri = sub.script("/exec", ("sleep", 1.0), 503, 204)
        delivery = {
            "retry": 2,
            "backoffPolicy": "linear",
            "backoffDelay": "PT0.3S",
            "timeout": "PT0.3S",
        }
        done = {"type": contract.COMPLETED}
        with running_broker(redis_url, tmp_path, [trigger("t", uri, done, delivery)]) as broker:
            broker.publish(completed(str(uuid.uuid4())))
            calls = sub.wait_for("/exec", 3)
            wait_until(lambda: broker.backlog("t") == (0, 0))
        first, second = gaps(calls)
        # Arrivals are stamped by the subscriber once it has read a request, a little after the
        # dispatcher's clock started: 20 ms of slack for that, far below the 0.3 s steps shown.
        assert 0.3 + 0.3 - 0.02 <= first < 3.0  # timed out after 0.3 s, then waited 1 x 0.3 s
        assert 0.6 - 0.02 <= second < 3.0  # waited 2 x 0.3 s


def test_a_job_is_waited_for_as_long_as_its_worst_case(redis_url: str, tmp_path: Path) -> None:
    """A requested event's delivery outlives a shorter trigger timeout: the executor is still
    running the job, and a second delivery would only wait for the same run."""
    with subscriber() as sub:
        uri = sub.script("/exec", ("sleep", 1.0), 204)
        delivery = {"retry": 2, "backoffDelay": "PT0.1S", "timeout": "PT0.3S"}
        with running_broker(redis_url, tmp_path, [trigger("t", uri, REQ, delivery)]) as broker:
            broker.publish(requested())
            sub.wait_for("/exec", 1)
            wait_until(lambda: broker.backlog("t") == (0, 0))
        assert len(sub.calls_to("/exec")) == 1


def test_unreachable_subscriber_exhausts_retries_then_dead_letter_and_failed_job(
    redis_url: str, tmp_path: Path
) -> None:
    with subscriber() as dls:
        dead = dls.script("/dead", 204)
        # Nothing listens on port 9 of loopback: every attempt is a connection error.
        delivery = {
            "retry": 2,
            "backoffDelay": "PT0.1S",
            "deadLetterSink": {"uri": dead},
        }
        resources = [trigger("t", "http://127.0.0.1:9/", REQ, delivery)]
        with running_broker(redis_url, tmp_path, resources) as broker:
            event = requested()
            job_id = str(event.get_subject())
            broker.publish(event)
            record = wait_job(broker, job_id, "failed")
            wait_until(lambda: broker.backlog("t") == (0, 0))
            assert broker.store.counters("python")["failed"] == 1
        assert "ConnectionError" in str(record["reason"])
        (letter,) = dls.wait_for("/dead", 1)
        assert letter.event().get_subject() == job_id
        assert letter.headers["Ce-Knativeerrordest"] == "http://127.0.0.1:9/"
        assert b"ConnectionError" in base64.b64decode(letter.headers["Ce-Knativeerrordata"])


def test_a_4xx_goes_to_the_dead_letter_sink_without_retries(redis_url: str, tmp_path: Path) -> None:
    with subscriber() as sub:
        uri = sub.script("/exec", lambda _: Response("no such language", status=400))
        dead = sub.script("/dead", 204)
        delivery = {"retry": 5, "backoffDelay": "PT0.1S", "deadLetterSink": {"uri": dead}}
        with running_broker(redis_url, tmp_path, [trigger("t", uri, REQ, delivery)]) as broker:
            event = requested()
            record = wait_job(
                broker, str(event.get_subject()) if broker.publish(event) else "", "failed"
            )
            sub.wait_for("/dead", 1)
            # Gone from the stream: its delivery, retries included, is over for good.
            wait_until(lambda: broker.backlog("t") == (0, 0))
        assert len(sub.calls_to("/exec")) == 1
        assert "400" in str(record["reason"]) and "no such language" in str(record["reason"])
        (letter,) = sub.calls_to("/dead")
        assert letter.headers["Ce-Knativeerrorcode"] == "400"
        assert base64.b64decode(letter.headers["Ce-Knativeerrordata"]) == b"no such language"


def test_a_result_is_kept_while_its_subscriber_is_down_and_delivered_later(
    redis_url: str, tmp_path: Path
) -> None:
    with subscriber() as sub:
        # Retries exhausted (3 x 503), kept pending, reclaimed after the claim interval: 204.
        uri = sub.script("/results", 503, 503, 503, 204)
        delivery = {"retry": 2, "backoffDelay": "PT0.05S"}
        resources = [trigger("r", uri, {"type": contract.COMPLETED}, delivery)]
        with running_broker(redis_url, tmp_path, resources, claim_idle_ms=600) as broker:
            broker.publish(completed("job-kept"))
            sub.wait_for("/results", 3)
            assert broker.backlog("r") == (1, 1)  # still there, pending
            calls = sub.wait_for("/results", 4)
            wait_until(lambda: broker.backlog("r") == (0, 0))
        assert calls[3].at - calls[2].at >= 0.58  # not before the claim interval


def test_a_refused_result_with_nowhere_to_go_is_dropped_not_retried_forever(
    redis_url: str, tmp_path: Path
) -> None:
    with subscriber() as sub:
        uri = sub.script("/results", 422)
        resources = [trigger("r", uri, {"type": contract.COMPLETED}, {"retry": 3})]
        with running_broker(redis_url, tmp_path, resources, claim_idle_ms=300) as broker:
            broker.publish(completed("job-refused"))
            # Gone from the stream (kept, it would stay pending for the next claim): nothing is
            # left to be delivered again.
            wait_until(lambda: broker.backlog("r") == (0, 0))
        assert len(sub.calls_to("/results")) == 1


def test_a_reply_is_published_back_and_reaches_every_matching_trigger(
    redis_url: str, tmp_path: Path
) -> None:
    def reply(request: Request) -> Response:
        asked = contract.from_http(dict(request.headers), request.get_data())
        headers, body = contract.to_binary(completed(str(asked.get_subject()), "42\n"))
        return Response(body, status=200, headers=headers)

    with subscriber() as sub:
        exec_uri = sub.script("/exec", reply)
        resources = [
            trigger("exec", exec_uri, REQ),
            # An operator's own trigger, in Knative's newer filters dialect.
            trigger(
                "pipeline",
                sub.url + "/pipeline",
                filters=[
                    {"exact": {"type": contract.COMPLETED}},
                    {"prefix": {"source": "/te"}},
                    {"not": {"exact": {"language": "java"}}},
                ],
            ),
            trigger("audit", sub.url + "/audit", {"type": contract.COMPLETED}),
        ]
        with running_broker(redis_url, tmp_path, resources) as broker:
            event = requested()
            broker.publish(event)
            (piped,) = sub.wait_for("/pipeline", 1)
            (audited,) = sub.wait_for("/audit", 1)
            wait_until(lambda: all(broker.backlog(t.name) == (0, 0) for t in broker.triggers))
            broker.publish(completed("java-job", language="java"))
            # A result that passes `pipeline`'s filters, published after the java one: once it
            # has arrived and every stream is empty, the java result would have arrived too.
            broker.publish(completed("python-marker"))
            sub.wait_for("/audit", 3)
            sub.wait_for("/pipeline", 2)
            wait_until(lambda: all(broker.backlog(t.name) == (0, 0) for t in broker.triggers))
        piped_subjects = [call.event().get_subject() for call in sub.calls_to("/pipeline")]
        # the java result did not pass `not`
        assert piped_subjects == [event.get_subject(), "python-marker"]
        for call in (piped, audited):
            got = call.event()
            assert got.get_type() == contract.COMPLETED
            assert got.get_subject() == event.get_subject()
            assert got.get_data()["output"] == "42\n"


def test_entries_of_a_dead_consumer_are_reclaimed_and_the_consumer_forgotten(
    redis_url: str, tmp_path: Path
) -> None:
    with subscriber() as sub:
        uri = sub.script("/exec")
        prefix = f"sentinel-brk-{uuid.uuid4().hex[:8]}"
        with running_broker(
            redis_url,
            tmp_path,
            [trigger("t", uri, REQ)],
            prefix=prefix,
            claim_idle_ms=400,
            consumer_expire_ms=200,
            dispatchers=0,
        ) as broker:
            # A dispatcher that read three entries and died before delivering them.
            stream = keys.trigger_stream(prefix, "t")
            events = [requested() for _ in range(3)]
            for event in events:
                broker.publish(event)
            broker.client.xgroup_create(stream, keys.CONSUMER_GROUP, id="0")
            broker.client.xreadgroup(keys.CONSUMER_GROUP, "ghost", {stream: ">"}, count=3)
            assert broker.backlog("t") == (3, 3)
        with running_broker(
            redis_url,
            tmp_path,
            [trigger("t", uri, REQ)],
            prefix=prefix,
            claim_idle_ms=400,
            consumer_expire_ms=200,
        ) as broker:
            calls = sub.wait_for("/exec", 3)
            wait_until(lambda: broker.backlog("t") == (0, 0))

            def consumers() -> set[str]:
                found = broker.client.xinfo_consumers(stream, keys.CONSUMER_GROUP)
                return {c["name"].decode() for c in found}

            wait_until(lambda: "ghost" not in consumers())
        assert {c.event().get_subject() for c in calls} == {e.get_subject() for e in events}


def test_a_slow_delivery_is_not_taken_over_by_another_dispatcher(
    redis_url: str, tmp_path: Path
) -> None:
    with subscriber() as sub:
        uri = sub.script("/exec", ("sleep", 2.0))
        resources = [trigger("t", uri, REQ, {"timeout": "PT10S"})]
        # Two dispatchers; the job takes more than six claim intervals.
        with running_broker(
            redis_url, tmp_path, resources, claim_idle_ms=300, dispatchers=2
        ) as broker:
            broker.publish(requested())
            sub.wait_for("/exec", 1)
            # A takeover would have posted while the slow delivery went on (the subscriber
            # counts a call when it arrives); the entry leaves the stream when it ends.
            wait_until(lambda: broker.backlog("t") == (0, 0))
        assert len(sub.calls_to("/exec")) == 1
