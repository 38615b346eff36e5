"""The supervisor's cgroup-v2 delegation (sentinel/cgroup_delegation.py): the executor started in
a systemd `Delegate=yes` scope, or in a subtree handed over without systemd, as root or as an
unprivileged owner, limits its runs with cgroup v2 and says so on /health.

On this project's hybrid machines there is nothing to delegate (v1 is used, the host's v2 tree is
left alone): that is checked here, and the rest runs inside the Debian 12 guest of
tests/test_cgroup_v2_vm.py, which sets SENTINEL_EXPECT_LIMITS=cgroup-v2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from eventing import contract
from functions import sandbox
from sentinel import cgroup_delegation
from sentinel.serve import Supervisor, _http_ok, free_port

REPO = Path(__file__).resolve().parents[1]
EXPECTED = os.environ.get("SENTINEL_EXPECT_LIMITS")
NOBODY = (65534, 65534)
# In the child: its limits mode, who and where it is, and a memory bomb's outcome in a sandbox.
CHILD = """import json, os
from functions import sandbox
bomb = "a = []\\nwhile True:\\n    a.append(bytearray(1 << 20))"
limits = sandbox.RunLimits(cpu_ms=15000, wall_ms=30000, memory_kb=64 << 10, output_bytes=4096)
outcome = sandbox.run(["/usr/bin/python3", "-c", bomb], limits=limits)
print(json.dumps({"mode": sandbox.limits_mode(), "uid": os.getuid(),
                  "cgroup": open("/proc/self/cgroup").read().strip().split("::")[-1],
                  "oom": outcome.memory_exceeded, "memory_kb": outcome.memory_kb}))
"""
V1_HOST = Path("/sys/fs/cgroup/memory/cgroup.procs").exists()

needs_v2 = pytest.mark.skipif(
    cgroup_delegation.executor_group().how == "inherited",
    reason="nothing to delegate here (not root, or memory is not in a cgroup-v2 hierarchy)",
)


def test_a_hybrid_host_is_left_alone() -> None:
    if not V1_HOST:
        pytest.skip("not a v1/hybrid host")
    group = cgroup_delegation.executor_group()
    assert (group.how, group.prefix, group.path) == ("inherited", (), None)


def _child(prefix: tuple[str, ...]) -> dict[str, object]:
    """Run CHILD behind the delegation's prefix, as the supervisor runs the executor."""
    done = subprocess.run(
        [*prefix, sys.executable, "-c", CHILD],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _assert_held_by_v2(
    seen: dict[str, object],
    group: Path,
    owner: tuple[int, int] | None,
    record_property: pytest.RecordProperty,
) -> None:
    """The child ran as `owner`, in the leaf of `group`, in v2 mode, and its bomb met 64 MB."""
    record_property("child", json.dumps(seen))
    assert seen["mode"] == "cgroup-v2", seen
    assert seen["uid"] == (owner[0] if owner else 0)
    assert seen["cgroup"] == f"/{group.relative_to('/sys/fs/cgroup')}/executor", seen
    assert seen["oom"] is True and 0.9 * 65536 <= int(str(seen["memory_kb"])) <= 65536, seen


@needs_v2
@pytest.mark.parametrize("owner", [None, NOBODY], ids=["root", "nobody"])
def test_an_executor_in_a_systemd_scope_limits_its_runs_with_v2(
    owner: tuple[int, int] | None, record_property: pytest.RecordProperty
) -> None:
    group = cgroup_delegation.executor_group(owner=owner)
    assert group.how == "systemd-scope" and group.path is not None
    _assert_held_by_v2(_child(group.prefix), group.path, owner, record_property)


@needs_v2
@pytest.mark.parametrize("owner", [None, NOBODY], ids=["root", "nobody"])
def test_a_subtree_handed_over_without_systemd_limits_runs_with_v2(
    owner: tuple[int, int] | None, record_property: pytest.RecordProperty
) -> None:
    group = cgroup_delegation.executor_group(owner=owner, systemd=False)
    assert group.how == "subtree" and group.path is not None
    if owner is not None:
        assert group.path.stat().st_uid == owner[0]
        assert (group.path / "cgroup.procs").stat().st_uid == owner[0]
    try:
        _assert_held_by_v2(_child(group.prefix), group.path, owner, record_property)
    finally:
        (group.path / "executor").rmdir()
        group.path.rmdir()


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The executor alone, started as sentinel/serve.py starts it (behind the delegation's
    prefix), with room to start under the VM's emulated CPUs (the whole stack did not start in
    60 s there); its URL."""
    supervisor = Supervisor(tmp_path_factory.mktemp("executor"), quiet=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # python only: a C++ executor builds its precompiled header at start (a minute emulated)
    env = {**os.environ, "PORT": str(port), "SENTINEL_HOST": "127.0.0.1"}
    env["SENTINEL_LANGUAGES"] = "python"
    group = cgroup_delegation.executor_group()
    argv = [*group.prefix, sys.executable, "-m", "functions"]
    try:
        supervisor.start("executor", argv, env, _http_ok(f"{url}/health"), timeout_s=300)
        yield url
    finally:
        supervisor.stop()


def test_the_executors_health_reports_its_limits_mode(executor: str) -> None:
    own = requests.get(f"{executor}/health", timeout=30).json()
    assert own["limits"] == (EXPECTED or sandbox.limits_mode()), own
    bomb = "a = []\nwhile True:\n    a.append(bytearray(1 << 20))"
    submission = contract.Submission(
        id=uuid.uuid4().hex,
        code=bomb,
        language="python",
        limits=contract.Limits(memory_mb=64, cpu_time_ms=15_000, wall_time_ms=30_000),
    )
    event = contract.make_event(contract.REQUESTED, submission, source="/test", language="python")
    headers, body = contract.to_binary(event)
    answer = requests.post(executor, data=body, headers=headers, timeout=240)
    assert answer.status_code == 200, answer.text
    result = contract.payload_of(contract.from_http(dict(answer.headers), answer.content))
    assert isinstance(result, contract.ExecutionResult)
    assert result.verdict == "memory_limit_exceeded", result
