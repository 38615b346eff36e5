"""Per-run cgroups (functions/cgroups.py) on the host the suite runs on, v1 or v2: the groups'
life, the sweep of a dead executor's groups, and the limits a run meets, through the real
sandbox. On this project's hybrid machines that is v1; tests/test_cgroup_v2_vm.py runs this
same file inside a Debian 12 guest (pure cgroup v2) with SENTINEL_EXPECT_LIMITS=cgroup-v2.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eventing.contract import Limits
from functions import cgroups, sandbox
from functions.settings import ExecutorSettings
from tests.sandbox_helpers import execute, leftovers
from tests.test_hostile import HOSTILE

WHERE = sandbox.delegation()
EXPECTED = os.environ.get("SENTINEL_EXPECT_LIMITS")
PROGRAMS = {row[0]: row[2] for row in HOSTILE}
MEMORY_MB = 64
# Generous CPU and wall time: the guest of the VM test emulates its CPUs, several times slower.
ROOMY = Limits(cpu_time_ms=15_000, wall_time_ms=30_000, memory_mb=MEMORY_MB)
# Compiles get room too (the defaults: tests/sandbox_helpers.py holds them tighter).
SETTINGS = ExecutorSettings(compile_cpu_ms=60_000, compile_wall_ms=120_000)
# Tasks already in a run's group before the program forks: bwrap, the sandbox's pid 1, itself.
TASKS_BEFORE_FORKS = 3

needs_groups = pytest.mark.skipif(
    WHERE is None, reason="no cgroup is delegated to this process: limits mode is rlimit"
)


def test_limits_mode_is_the_one_this_host_must_give() -> None:
    if EXPECTED is None:
        pytest.skip("SENTINEL_EXPECT_LIMITS not set (the cgroup-v2 VM test sets it)")
    assert sandbox.limits_mode() == EXPECTED


@needs_groups
def test_on_v2_the_executor_sits_in_a_leaf_beside_the_runs() -> None:
    assert WHERE is not None
    if WHERE.version != 2:
        pytest.skip("cgroup v1: no leaf is needed (no no-internal-processes rule)")
    delegated = WHERE.parents[cgroups.UNIFIED]
    own = Path("/proc/self/cgroup").read_text().strip().split("::", 1)[1]
    assert delegated / cgroups.LEAF == cgroups.cgroup2_mount() / own.lstrip("/")  # type: ignore[operator]
    enabled = (delegated / "cgroup.subtree_control").read_text().split()
    assert {"memory", "pids", "cpu"} <= set(enabled)
    assert (delegated / "cgroup.procs").read_text() == ""
    assert cgroups.delegation() == WHERE  # asked again from inside the leaf: the same group


@needs_groups
def test_a_group_is_limited_joined_killed_and_removed() -> None:
    assert WHERE is not None
    group = cgroups.Group.create(WHERE)
    group.limit(MEMORY_MB << 20, 8)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        group.join(sleeper.pid)
        for path in group.paths.values():
            assert (path / "cgroup.procs").read_text().split() == [str(sleeper.pid)]
        group.kill()
        assert sleeper.wait(10) == -9
        group.remove()
        assert not any(path.exists() for path in group.paths.values())
    finally:
        sleeper.kill()
        sleeper.wait()
        group.remove()


@needs_groups
def test_sweep_removes_a_dead_executors_groups_and_keeps_live_ones() -> None:
    assert WHERE is not None
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid names the "dead executor's" group
    stale = cgroups.Group(
        {c: parent / f"sentinel-{gone.pid}-0" for c, parent in WHERE.parents.items()},
        WHERE.version,
    )
    live = cgroups.Group.create(WHERE)  # this process's: kept
    left_behind = subprocess.Popen(["sleep", "60"])
    try:
        for path in stale.paths.values():
            path.mkdir()
        stale.join(left_behind.pid)
        removed = cgroups.sweep_stale(WHERE)
        assert set(stale.paths.values()) <= set(removed)  # others' stale groups may go too
        assert left_behind.wait(10) == -9
        assert all(path.is_dir() for path in live.paths.values())
    finally:
        left_behind.kill()
        left_behind.wait()
        stale.remove()
        live.remove()


@needs_groups
@pytest.mark.parametrize("program", ["memory-bomb-python", "memory-bomb-cpp"])
def test_a_memory_bomb_is_mle_with_the_peak_at_the_limit(
    program: str, record_property: pytest.RecordProperty
) -> None:
    language = program.rsplit("-", 1)[1]
    result = execute(language, PROGRAMS[program], limits=ROOMY, settings=SETTINGS)
    record_property("memory_kb", result.memory_kb)
    assert result.verdict == "memory_limit_exceeded", result
    # The group's own peak (memory.peak, memory.max_usage_in_bytes): at the limit, not above.
    assert MEMORY_MB * 1024 * 0.9 <= (result.memory_kb or 0) <= MEMORY_MB * 1024, result
    assert leftovers() == []


HOLDER = "b = bytearray(160 * 1024 * 1024)\nprint('held', len(b) // 2**20)"


@needs_groups
def test_each_run_gets_its_own_limits_whatever_its_spare_was_prepared_with() -> None:
    """A spare sandbox gets the cgroup limits of the run before it, ahead of its own run
    (functions/sandbox.py, _Spares.refill); a run that asks for other limits has its own in
    place before its program starts: 160 MB fits under 512 MB, never under 64 MB, in either
    order."""
    roomy = sandbox.RunLimits(
        cpu_ms=15_000, wall_ms=30_000, memory_kb=512 * 1024, output_bytes=65536
    )
    tight = dataclasses.replace(roomy, memory_kb=MEMORY_MB * 1024)
    order = [roomy, roomy, tight, tight, roomy, tight]
    exceeded = []
    for limits in order:
        outcome = sandbox.run(["/usr/bin/python3", "-c", HOLDER], limits=limits)
        exceeded.append(outcome.memory_exceeded)
        if not outcome.memory_exceeded:
            assert outcome.stdout == b"held 160\n", outcome
        time.sleep(1)  # the spares' thread prepares the next one meanwhile
    assert exceeded == [limits is tight for limits in order]
    assert leftovers() == []


FORKER = """import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as e:
    print(n, e.errno)
"""


@needs_groups
def test_forks_stop_exactly_at_the_process_limit(record_property: pytest.RecordProperty) -> None:
    limits = sandbox.RunLimits(
        cpu_ms=15_000, wall_ms=30_000, memory_kb=256 << 10, output_bytes=4096, processes=16
    )
    outcome = sandbox.run(["/usr/bin/python3", "-c", FORKER], limits=limits)
    record_property("forks", outcome.stdout.decode().strip())
    assert outcome.stdout.decode().split() == [
        str(limits.processes - TASKS_BEFORE_FORKS),
        str(errno.EAGAIN),
    ], outcome
    assert leftovers() == []


@needs_groups
def test_a_fork_bomb_is_contained() -> None:
    result = execute("python", PROGRAMS["fork-bomb-python"], limits=ROOMY, settings=SETTINGS)
    assert result.verdict in {"runtime_error", "time_limit_exceeded", "memory_limit_exceeded"}
    assert leftovers() == []


THREADS = """#include <thread>
#include <vector>
int main() {
    std::vector<std::thread> t;
    for (int i = 0; i < 4; i++) t.emplace_back([] { for (;;) {} });
    for (auto& x : t) x.join();
}
"""


@needs_groups
def test_threads_burning_cpu_are_stopped_by_the_groups_cpu_time(
    tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.fail("g++ not found: install the Debian package g++")
    (tmp_path / "main.cpp").write_text(THREADS)
    subprocess.run(
        [compiler, "-O2", "-pthread", "-o", "main", "main.cpp"], cwd=tmp_path, check=True
    )
    box = tmp_path / "box"
    box.mkdir()
    (tmp_path / "main").rename(box / "main")
    limits = sandbox.RunLimits(cpu_ms=1000, wall_ms=60_000, memory_kb=64 << 10, output_bytes=4096)
    outcome = sandbox.run(["/box/main"], limits=limits, box=box)
    record_property("cpu_ms", outcome.cpu_ms)
    # Stopped by the CPU time of all its threads (cpu.stat, cpuacct.usage), long before the wall.
    assert outcome.cpu_ms > limits.cpu_ms and not outcome.wall_timed_out, outcome
    assert outcome.signal == 9, outcome
    tight_cpu = Limits(cpu_time_ms=1000, wall_time_ms=60_000)
    result = execute("cpp", THREADS, limits=tight_cpu, settings=SETTINGS)
    assert result.verdict == "time_limit_exceeded", result
    assert leftovers() == []


EXITING = """import os, sys
from functions import sandbox
limits = sandbox.RunLimits(cpu_ms=1000, wall_ms=5000, memory_kb=64 << 10, output_bytes=4096)
for _ in range(3):
    assert sandbox.run(["/bin/true"], limits=limits).exit_code == 0
print(os.getpid(), " ".join(str(p) for p in sandbox.delegation().parents.values()))
"""


@needs_groups
def test_an_executor_that_exits_cleanly_leaves_no_group_behind() -> None:
    """A run's groups are removed in the background, and a prepared sandbox is refilled after
    each run: at a clean exit both are settled (functions/cgroups.py settle, the spares' close
    waiting for the one being prepared), so no group is left for the next start's sweep."""
    done = subprocess.run(
        [sys.executable, "-c", EXITING],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    pid, *parents = done.stdout.split()
    left = [str(p) for parent in parents for p in Path(parent).glob(f"sentinel-{pid}-*")]
    assert left == []
