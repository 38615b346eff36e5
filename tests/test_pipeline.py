"""Sentinel as an event pipeline sees it, on the whole stack started as `nox -s serve` does: the
executor's started events make a job "running"; a pipeline publishes requested events to the
broker ingress; an operator's own trigger delivers completed events to the pipeline's URL."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from eventing import contract
from sentinel.serve import Supervisor, free_port, start_stack
from tests.broker_harness import trigger
from tests.conftest import Stack
from tests.subscriber import Subscriber, subscriber

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Subscriber]:
    with subscriber() as sub:
        yield sub


@pytest.fixture(scope="module")
def piped_stack(
    redis_url: str, pipeline: Subscriber, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, str]]:
    """The shipped triggers plus an operator's: completed python results to the pipeline."""
    data_dir = tmp_path_factory.mktemp("piped")
    shipped = list(yaml.safe_load_all((REPO / "config" / "triggers.yaml").read_text()))
    mine = trigger(
        "to-pipeline",
        pipeline.url + "/results",
        filters=[{"exact": {"type": contract.COMPLETED, "language": "python"}}],
    )
    path = data_dir / "triggers.yaml"
    path.write_text(yaml.safe_dump_all([*shipped, mine]))
    prefix = f"sentinel-pipe-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "SENTINEL_KEY_PREFIX": prefix,
        "SENTINEL_TRIGGERS": str(path),
    }
    supervisor = Supervisor(data_dir, quiet=True)
    try:
        url = start_stack(supervisor, env, "127.0.0.1", free_port(), data_dir)
        yield Stack(url, redis_url, prefix, data_dir), supervisor.urls["broker"]
    finally:
        supervisor.stop()


def test_a_job_is_running_while_it_runs(piped_stack: tuple[Stack, str]) -> None:
    stack, _ = piped_stack
    job_id = stack.submit({"language": "python", "code": "import time\ntime.sleep(2)\nprint(1)"})[
        "id"
    ]
    seen = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = requests.get(f"{stack.url}/api/status/{job_id}", timeout=10).json()["status"]
        seen.add(status)
        if status == "completed":
            break
        time.sleep(0.05)
    assert "running" in seen and status == "completed"


def test_a_pipeline_publishes_a_job_and_gets_the_result_on_its_own_trigger(
    piped_stack: tuple[Stack, str], pipeline: Subscriber
) -> None:
    stack, broker = piped_stack
    job_id = f"pipeline-{uuid.uuid4().hex[:8]}"
    event = contract.make_event(
        contract.REQUESTED,
        contract.Submission(id=job_id, code="print(6 * 7)", language="python"),
        source="/pipelines/grader",
        language="python",
    )
    headers, body = contract.to_binary(event)
    answer = requests.post(broker, data=body, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text
    job = stack.wait(job_id)
    assert job["status"] == "completed" and job["output"] == "42\n"
    deadline = time.monotonic() + 20
    delivered: list[object] = []
    while not delivered and time.monotonic() < deadline:
        delivered = [c for c in pipeline.calls_to("/results") if c.event().get_subject() == job_id]
        time.sleep(0.05)
    (call,) = delivered
    result = call.event()  # type: ignore[attr-defined]
    assert result.get_type() == contract.COMPLETED
    assert result.get_data()["output"] == "42\n"


def test_a_pipeline_job_in_an_unknown_language_is_refused(piped_stack: tuple[Stack, str]) -> None:
    stack, broker = piped_stack
    event = contract.make_event(
        contract.REQUESTED,
        contract.Submission(id="x-1", code="x", language="cobol"),
        source="/pipelines/grader",
        language="cobol",
    )
    headers, body = contract.to_binary(event)
    answer = requests.post(broker, data=body, headers=headers, timeout=10)
    assert answer.status_code == 400 and "cobol" in answer.json()["error"]
    assert requests.get(f"{stack.url}/job/x-1", timeout=10).status_code == 404
