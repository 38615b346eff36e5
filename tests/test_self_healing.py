"""The one-machine service heals itself (sentinel/serve.py's Supervisor): each of its processes
is SIGKILLed in turn while jobs are being submitted, the supervisor starts it again, and every
job the API accepted (202) ends with exactly one result."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests

from sentinel import serve
from sentinel.serve import Supervisor, free_port, start_stack
from tests.conftest import FINISHED, STACK_ENV

ORDER = ["redis", "broker", "executor", "sink", "callbacks", "dispatcher", "ingress"]
PER_PHASE = 10  # before the kill, and as many again after it


def submit(url: str, token: str, deadline_s: float = 60) -> str | None:
    """POST until accepted (202): the job's id, or None if never accepted in time. Refusals and
    connection errors while a process is down are what a client sees and retries."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            answer = requests.post(
                f"{url}/api/execute",
                # Long enough that jobs are queued and running when the kill comes.
                json={
                    "language": "python",
                    "code": f"import time\ntime.sleep(0.1)\nprint({token!r})",
                },
                timeout=10,
            )
            if answer.status_code == 202:
                return str(answer.json()["id"])
        except requests.RequestException:
            pass
        time.sleep(0.2)
    return None


def read(url: str, job_id: str) -> dict[str, object] | None:
    try:
        answer = requests.get(f"{url}/job/{job_id}", timeout=10)
    except requests.RequestException:
        return None
    return dict(answer.json()) if answer.status_code == 200 else None


@pytest.mark.slow
def test_sigkill_of_each_process_heals_and_every_accepted_job_ends_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # the supervised Redis
    env.update(STACK_ENV)
    env["SENTINEL_KEY_PREFIX"] = f"healing-{uuid.uuid4().hex[:8]}"
    env["SENTINEL_CLAIM_IDLE_MS"] = "3000"  # a dead dispatcher's entries are taken over soon
    supervisor = Supervisor(tmp_path, quiet=True)
    stop = threading.Event()
    gave_up: list[str | None] = []
    watcher = threading.Thread(target=lambda: gave_up.append(supervisor.watch(stop.is_set)))
    accepted: dict[str, str] = {}  # job id -> the token it prints
    try:
        url = start_stack(supervisor, env, "127.0.0.1", free_port(), tmp_path)
        argv = supervisor.children[0].argv
        embedded = redis.Redis(port=int(argv[argv.index("--port") + 1]))
        # Durable and bounded: the append-only file fsynced before each answer (everysec lost
        # an accepted job to the SIGKILL of Redis below), and refuse writes rather than evict.
        assert embedded.config_get("appendonly") == {"appendonly": "yes"}
        assert embedded.config_get("appendfsync") == {"appendfsync": "always"}
        assert embedded.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert int(embedded.config_get("maxmemory")["maxmemory"]) == 1024**3
        embedded.close()
        watcher.start()
        for name in ORDER:
            child = next(c for c in supervisor.children if c.name == name)
            for phase in ("before", "after"):
                if phase == "after":
                    os.kill(child.process.pid, signal.SIGKILL)
                for index in range(PER_PHASE):
                    token = f"{name}-{phase}-{index}"
                    job_id = submit(url, token)
                    assert job_id is not None, f"{token} never accepted"
                    accepted[job_id] = token
            deadline = time.monotonic() + 60
            while child.restarts < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert child.restarts == 1, f"{name} was not restarted"
        deadline = time.monotonic() + 240
        results: dict[str, dict[str, object]] = {}
        while len(results) < len(accepted) and time.monotonic() < deadline:
            for job_id in set(accepted) - set(results):
                record = read(url, job_id)
                if record is not None and record["status"] in FINISHED:
                    results[job_id] = record
            time.sleep(0.5)
        unfinished = sorted(accepted[j] for j in set(accepted) - set(results))
        assert unfinished == [], f"{len(unfinished)} accepted jobs never finished: {unfinished}"
        failed = sorted(accepted[j] for j, r in results.items() if r["status"] != "completed")
        wrong = sorted(
            accepted[j]
            for j, r in results.items()
            if r["status"] == "completed" and r.get("output") != f"{accepted[j]}\n"
        )
        load = requests.get(f"{url}/load", timeout=10).json()["languages"]["python"]
        health = requests.get(f"{url}/health", timeout=10).json()
        print(
            f"{len(accepted)} accepted, {len(results) - len(failed)} completed, "
            f"{len(failed)} failed {failed}; load {load}"
        )
        assert wrong == []
        # Exactly one result per job: the store counts a job's end once, however often its
        # events were redelivered, and every job created has ended.
        assert load["completed"] + load["failed"] == load["totalJobs"] >= len(accepted)
        assert load["waiting"] == load["active"] == 0
        assert failed == [], f"jobs failed: {failed}"
        restarts = {name: c["restarts"] for name, c in health["supervisor"]["children"].items()}
        assert restarts == dict.fromkeys(ORDER, 1)
        assert gave_up == [] and watcher.is_alive()
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join(30)
        supervisor.stop()


def test_a_child_that_cannot_stay_up_stops_the_supervisor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child exiting again and again is restarted MAX_RESTARTS times with a growing backoff,
    then watch() gives up and names it (serve's main then stops everything and exits 1)."""
    monkeypatch.setattr(serve, "BACKOFF_S", 0.05)
    supervisor = Supervisor(tmp_path, quiet=True)
    try:
        supervisor.start(
            "flaky", [sys.executable, "-c", "import time; time.sleep(0.05)"], {}, lambda: True
        )
        assert supervisor.watch(lambda: False) == "flaky"
        child = supervisor.children[0]
        assert child.restarts == serve.MAX_RESTARTS
        assert len(child.exits) == serve.MAX_RESTARTS + 1
    finally:
        supervisor.stop()
    state = json.loads((tmp_path / "supervisor.json").read_text())
    assert state["children"]["flaky"]["restarts"] == serve.MAX_RESTARTS
