"""Protection: rate limits exact at the boundary, trusted proxy hops, API keys and backpressure,
against the ingress configured with small limits (`strict`).

All of it is the ingress's and its Redis's, so it is asked in-process (the app of ingress/app.py
through Flask's test client, against the real Redis). Backpressure also needs the backlog to
drain: that test's ingress queues onto the started `stack`'s broker (its key prefix), whose
dispatcher and executor drain it (tests/conftest.py)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from eventing import keys
from eventing.settings import EventingSettings
from ingress.app import create_app
from ingress.settings import IngressSettings
from tests.conftest import Stack, ingress_app

# Every client of these tests has a key of its own: with keys on, a budget is the key's.
CLIENTS = ["203.0.113.10", "203.0.113.11", "203.0.113.20", "203.0.113.30", "203.0.113.40"]
CLIENTS += ["203.0.113.60", "203.0.113.77"]
STRICT_ENV = {
    "SENTINEL_RATE_LIMIT": "5/minute",
    "SENTINEL_READ_RATE_LIMIT": "10/minute",
    "SENTINEL_TRUSTED_PROXY_HOPS": "1",
    "SENTINEL_BACKLOG_CAP": "python=2",
    "SENTINEL_API_KEYS": ", ".join(["key-one", "key-two"] + [f"key-{c}" for c in CLIENTS]),
    "SENTINEL_MAX_BATCH": "3",
}
INVALID = {"language": "python"}  # refused (no code), but every attempt counts


@pytest.fixture(scope="module")
def strict(redis_url: str, key_prefix: str) -> FlaskClient:
    """The ingress with 5 submissions and 10 reads per minute per client, one trusted proxy
    hop, a python backlog cap of 2, API keys, and batches of at most 3, in-process under a key
    prefix of its own."""
    return ingress_app(redis_url, f"{key_prefix}-strict", STRICT_ENV).test_client()


def _post(
    api: FlaskClient, client: str, body: object, path: str = "/api/execute", key: str | None = None
) -> TestResponse:
    """POST as `client` (its address, through the trusted proxy) with its own key."""
    headers = {"X-API-Key": key or f"key-{client}", "X-Forwarded-For": client}
    return api.post(path, json=body, headers=headers)


def test_the_sixth_submission_in_a_minute_gets_429(strict: FlaskClient) -> None:
    remaining = []
    for _ in range(5):
        answer = _post(strict, "203.0.113.10", INVALID)
        assert answer.status_code == 400
        assert answer.headers["X-RateLimit-Limit"] == "5"
        remaining.append(int(answer.headers["X-RateLimit-Remaining"]))
        reset = int(answer.headers["X-RateLimit-Reset"])
        assert time.time() < reset <= time.time() + 61
    assert remaining == [4, 3, 2, 1, 0]
    refused = _post(strict, "203.0.113.10", INVALID)
    assert refused.status_code == 429
    assert refused.json["error"].startswith("rate limit exceeded")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    # Another key has its own budget; the same key from another address shares its own (with
    # keys on, the budget is the key's: a judge's backend keeps it wherever it calls from).
    assert _post(strict, "203.0.113.11", INVALID).headers["X-RateLimit-Remaining"] == "4"
    moved = _post(strict, "198.51.100.7", INVALID, key="key-203.0.113.10")
    assert moved.status_code == 429


def test_a_batch_costs_one_per_submission(strict: FlaskClient) -> None:
    client = "203.0.113.20"
    batch = _post(strict, client, {"submissions": [INVALID] * 3}, "/api/execute/batch")
    assert batch.status_code == 400
    assert batch.headers["X-RateLimit-Remaining"] == "2"
    assert _post(strict, client, INVALID).headers["X-RateLimit-Remaining"] == "1"
    too_many = _post(strict, client, {"submissions": [INVALID] * 2}, "/api/execute/batch")
    assert too_many.status_code == 429
    assert _post(strict, client, INVALID).headers["X-RateLimit-Remaining"] == "0"


def test_a_batch_over_the_configured_size_gets_400(strict: FlaskClient) -> None:
    answer = _post(strict, "203.0.113.30", {"submissions": [INVALID] * 4}, "/api/execute/batch")
    assert answer.status_code == 400
    assert answer.json["field"] == "submissions" and answer.json["limit"] == 3


def test_reads_have_their_own_budget(strict: FlaskClient) -> None:
    headers = {"X-API-Key": "key-203.0.113.40", "X-Forwarded-For": "203.0.113.40"}
    codes = [strict.get("/job/nothing", headers=headers).status_code for _ in range(11)]
    assert codes == [404] * 10 + [429]
    assert _post(strict, "203.0.113.40", INVALID).status_code == 400  # submissions still open
    # Never limited. (In-process no executor answers, so /health says 503: its own answer.)
    health = strict.get("/health", headers=headers)
    assert health.status_code in (200, 503) and "X-RateLimit-Remaining" not in health.headers
    assert strict.get("/load", headers=headers).status_code == 200


def test_api_keys_are_required_when_configured(strict: FlaskClient) -> None:
    body = {"language": "python", "code": "print(1)"}
    missing = strict.post("/api/execute", json=body)
    assert missing.status_code == 401
    assert "X-API-Key" in missing.json["error"]
    assert missing.headers["WWW-Authenticate"].startswith("ApiKey")
    wrong = strict.post("/api/execute", json=body, headers={"X-API-Key": "key-three"})
    assert wrong.status_code == 401
    other = strict.get(
        "/languages", headers={"X-API-Key": "key-one", "X-Forwarded-For": "203.0.113.50"}
    )
    assert other.status_code == 200
    document = strict.get("/openapi.json").json
    assert document["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    assert document["paths"]["/api/execute"]["post"]["security"] == [{"ApiKey": []}]


def test_a_full_backlog_gets_503_until_it_drains(redis_url: str, stack: Stack) -> None:
    """The strict ingress in-process, queuing onto the started stack's broker: its dispatcher
    and executor drain the backlog (after whatever earlier tests left in it)."""
    backlog = redis.Redis.from_url(stack.redis_url)
    stream = keys.trigger_stream(stack.key_prefix, "execute-python")

    def drained() -> bool:
        deadline = time.monotonic() + 60
        while backlog.xlen(stream) and time.monotonic() < deadline:
            time.sleep(0.2)
        return not backlog.xlen(stream)

    assert drained()
    strict = ingress_app(redis_url, stack.key_prefix, STRICT_ENV).test_client()
    client = "203.0.113.60"
    sleeper = {"language": "python", "code": "import time\ntime.sleep(3)"}
    assert _post(strict, client, sleeper).status_code == 202
    assert _post(strict, client, sleeper).status_code == 202
    full = _post(strict, client, sleeper)
    assert full.status_code == 503, full.text
    assert full.headers["Retry-After"] == "5"
    assert full.json["language"] == "python"
    batch = _post(strict, client, {"submissions": [sleeper]}, "/api/execute/batch")
    assert batch.status_code == 400
    assert batch.json["jobs"][0]["code"] == 503
    assert drained()
    assert _post(strict, client, {"language": "python", "code": "print(1)"}).status_code == 202


def test_x_forwarded_for_is_ignored_without_trusted_hops(api: FlaskClient) -> None:
    body = {"language": "python"}
    plain = api.post("/api/execute", json=body)
    forged = api.post("/api/execute", json=body, headers={"X-Forwarded-For": "9.9.9.9"})
    before = int(plain.headers["X-RateLimit-Remaining"])
    assert int(forged.headers["X-RateLimit-Remaining"]) == before - 1  # the same client


def test_concurrent_submissions_never_pass_the_limit(strict: FlaskClient) -> None:
    """16 at once from one client against 5 a minute: exactly 5 pass (check and charge are one
    Lua script), however the requests interleave."""
    barrier = threading.Barrier(16)

    def post(_: int) -> int:
        barrier.wait()
        return _post(strict, "203.0.113.77", INVALID).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = sorted(pool.map(post, range(16)))
    assert codes == [400] * 5 + [429] * 11


def test_the_default_limits_take_a_ci_run_and_refuse_a_flood(
    redis_url: str, key_prefix: str
) -> None:
    """The default budget (ingress/settings.py) against real Redis: a CI run of 300
    submissions at once all pass, a flood is refused at 1,200 in the minute."""
    settings = IngressSettings(
        eventing=EventingSettings(redis_url=redis_url, key_prefix=f"{key_prefix}-defaults")
    )
    assert settings.rate_limit == "1200/minute;20000/hour"
    api = create_app(settings).test_client()
    codes = [api.post("/api/execute", json=INVALID).status_code for _ in range(300)]
    assert codes == [400] * 300  # every one checked, none refused
    codes = [api.post("/api/execute", json=INVALID).status_code for _ in range(901)]
    assert codes[:900] == [400] * 900 and codes[900] == 429
    assert api.post("/api/execute", json=INVALID).headers["X-RateLimit-Limit"] == "1200"
