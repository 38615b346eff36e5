"""GET /load from real numbers: jobs submitted through the API, read by a consumer of the group,
and finished through the real sink; a redelivered result counts nothing twice."""

from __future__ import annotations

import redis

from eventing import keys
from eventing.contract import FAILED, Failed, make_event, to_binary
from tests.broker_harness import api_and_sink, completed


def test_load_counts_waiting_active_completed_and_failed_exactly_once(redis_url: str) -> None:
    prefix, api, results = api_and_sink(redis_url, "load")

    def load() -> dict[str, int]:
        answer = api.get("/load")
        assert answer.status_code == 200
        python = answer.json["languages"]["python"]
        assert answer.json["totals"] == python  # one language: totals are its numbers
        return dict(python)

    assert load() == {"waiting": 0, "active": 0, "totalJobs": 0, "completed": 0, "failed": 0}
    ids = []
    for n in range(4):
        answer = api.post("/api/execute", json={"language": "python", "code": f"print({n})"})
        assert answer.status_code == 202
        ids.append(answer.json["id"])
    assert load() == {"waiting": 4, "active": 0, "totalJobs": 4, "completed": 0, "failed": 0}

    # A dispatcher reads two of them (they are now being delivered).
    client = redis.Redis.from_url(redis_url)
    stream = keys.trigger_stream(prefix, "execute-python")
    client.xgroup_create(stream, keys.CONSUMER_GROUP, id="0")
    client.xreadgroup(keys.CONSUMER_GROUP, "d1", {stream: ">"}, count=2)
    assert load()["waiting"] == 2 and load()["active"] == 2

    # Results arrive through the sink, the first one three times (redeliveries).
    for _ in range(3):
        headers, body = to_binary(completed(ids[0]))
        assert results.post("/", data=body, headers=headers).status_code == 204
    failed = make_event(FAILED, Failed(id=ids[1], reason="boom"), source="/t", language="python")
    for _ in range(2):
        headers, body = to_binary(failed)
        assert results.post("/", data=body, headers=headers).status_code == 204
    # A late completed for the failed job changes nothing either.
    headers, body = to_binary(completed(ids[1]))
    assert results.post("/", data=body, headers=headers).status_code == 204

    numbers = load()
    assert (numbers["completed"], numbers["failed"], numbers["totalJobs"]) == (1, 1, 4)
    assert api.get(f"/job/{ids[1]}").json["status"] == "failed"
    assert api.get(f"/job/{ids[1]}").json["error"] == "boom"
