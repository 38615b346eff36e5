"""cgroup v2 for real: the executor's cgroup and delegation tests, run inside a Debian 12 guest.

Why a guest: these machines are a v1/v2 hybrid whose hierarchies must never be remounted, while
a current Debian with systemd (what the README names) mounts only cgroup2. The guest
(scripts/cgroup-v2-vm.sh: debootstrap, `mke2fs -d`, qemu with -kernel/-initrd, no network) gets
a copy of this checkout, and runs tests/test_cgroups.py, tests/test_cgroup_delegation.py and
tests/test_prestart.py as root in a `systemd-run --scope -p Delegate=yes` scope with
SENTINEL_EXPECT_LIMITS=cgroup-v2. One boot per test run; the image is cached under
/var/cache/sentinel-vm and built from nothing when missing. Here every check is read back from
the guest's JUnit report: each must have passed there, none skipped, so a guest that silently
fell back to rlimits fails this test.
"""

from __future__ import annotations

import os
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "cgroup-v2-vm.sh"
VENV_PYTHON = "/opt/sentinel-venv/bin/python"
INNER_FILES = ("tests/test_cgroups.py", "tests/test_cgroup_delegation.py", "tests/test_prestart.py")
# What must have passed in the guest (not skipped: there, v2 is the only way).
MUST_PASS = (
    "test_limits_mode_is_the_one_this_host_must_give",
    "test_on_v2_the_executor_sits_in_a_leaf_beside_the_runs",
    "test_a_group_is_limited_joined_killed_and_removed",
    "test_sweep_removes_a_dead_executors_groups_and_keeps_live_ones",
    "test_a_memory_bomb_is_mle_with_the_peak_at_the_limit[memory-bomb-python]",
    "test_a_memory_bomb_is_mle_with_the_peak_at_the_limit[memory-bomb-cpp]",
    "test_forks_stop_exactly_at_the_process_limit",
    "test_a_fork_bomb_is_contained",
    "test_threads_burning_cpu_are_stopped_by_the_groups_cpu_time",
    "test_an_executor_in_a_systemd_scope_limits_its_runs_with_v2[root]",
    "test_an_executor_in_a_systemd_scope_limits_its_runs_with_v2[nobody]",
    "test_a_subtree_handed_over_without_systemd_limits_runs_with_v2[root]",
    "test_a_subtree_handed_over_without_systemd_limits_runs_with_v2[nobody]",
    "test_the_executors_health_reports_its_limits_mode",
    # v2 answers a memory limit under a waiting interpreter's usage by killing it, not EBUSY
    "test_a_spare_that_cannot_serve_its_run_is_replaced_by_one_started_under_the_runs_limit",
    "test_a_prestarted_script_sees_what_a_cold_python3_shows_it",
    # the shell waiter: found stopped through the children of pid 1, released by a signal
    "test_its_process_status_is_the_one_bwrap_gives_it",
    "test_no_other_sandbox_can_release_a_waiting_shell",
)
INNER = (
    "SENTINEL_EXPECT_LIMITS=cgroup-v2 systemd-run --scope --quiet -p Delegate=yes "
    f"{VENV_PYTHON} -m pytest -p no:cacheprovider -q -rA --color=no -o junit_family=xunit1 "
    f"--junitxml=.vm/out/junit.xml {' '.join(INNER_FILES)}"
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


@dataclass(frozen=True)
class GuestRun:
    """What the guest did: its exit status, console output, JUnit report, and the host's time."""

    returncode: int
    output: str
    junit: ET.Element | None
    seconds: float

    def case(self, name: str) -> ET.Element | None:
        """The JUnit testcase `name`, if the guest ran it."""
        if self.junit is None:
            return None
        for case in self.junit.iter("testcase"):
            if case.get("name") == name:
                return case
        return None


@pytest.fixture(scope="module")
def guest(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> GuestRun:
    """One boot: build or reuse the image, run the inner tests, power off."""
    if os.geteuid() != 0:
        pytest.skip("the cgroup-v2 VM test needs root (debootstrap, qemu images, chroot)")
    out = tmp_path_factory.mktemp("cgroup-v2-vm")
    show = _progress(request)
    lines: list[str] = []
    started = time.monotonic()
    with subprocess.Popen(
        ["bash", str(SCRIPT), "run", str(REPO), INNER],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env={**os.environ, "SENTINEL_VM_OUT": str(out)},
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            show(line.rstrip())
    report = out / "junit.xml"
    run = GuestRun(
        process.returncode,
        "".join(lines),
        ET.parse(report).getroot() if report.exists() else None,
        time.monotonic() - started,
    )
    if run.junit is not None:  # what the guest measured
        for case in run.junit.iter("testcase"):
            for prop in case.iter("property"):
                show(f"{case.get('name')}: {prop.get('name')}={prop.get('value')}")
    show(f"whole guest run: {run.seconds:.0f} s")
    return run


def _progress(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Print past pytest's output capture: the boot and the guest's tests take minutes."""
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def show(text: str) -> None:
        if reporter is None or capture is None:
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"  vm | {text}")
            reporter.flush()

    return show


def test_the_guest_ran_its_cgroup_suite(guest: GuestRun) -> None:
    assert guest.junit is not None, f"no report from the guest:\n{guest.output[-4000:]}"
    assert guest.returncode == 0, guest.output[-6000:]


@pytest.mark.parametrize("name", MUST_PASS)
def test_in_the_guest(guest: GuestRun, name: str) -> None:
    case = guest.case(name)
    assert case is not None, f"{name} did not run in the guest:\n{guest.output[-3000:]}"
    outcome = [child.tag for child in case if child.tag in ("skipped", "failure", "error")]
    detail = "".join(child.get("message", "") for child in case)
    assert outcome == [], f"{name}: {outcome} {detail}"
