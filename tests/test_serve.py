"""`python -m sentinel.serve` (what `nox -s serve` runs): it comes up, answers, and Ctrl-C
removes every process it started, sandboxes included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sentinel.serve import free_port

REPO = Path(__file__).resolve().parent.parent


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_serve_comes_up_runs_a_job_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # embedded Redis
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sentinel.serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--quiet",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Sentinel is up" in line:
                break
        assert any(f"127.0.0.1:{port}" in line for line in lines), "".join(lines)
        url = f"http://127.0.0.1:{port}"
        # A job still sleeping in its sandbox when Ctrl-C comes must not survive it either.
        requests.post(
            f"{url}/api/execute",
            json={
                "language": "python",
                "code": "import time\ntime.sleep(6)",
                "limits": {"wallTimeMs": 10000},
            },
            timeout=10,
        )
        answer = requests.post(
            f"{url}/api/execute", json={"language": "python", "code": "print('up')"}, timeout=10
        ).json()
        deadline = time.monotonic() + 30
        job = {}
        while time.monotonic() < deadline:
            job = requests.get(f"{url}/job/{answer['id']}", timeout=10).json()
            if job["status"] == "completed":
                break
            time.sleep(0.1)
        assert job["output"] == "up\n"
        started = descendants(process.pid)
        names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in started if alive(pid)}
        assert {"redis-server", "bwrap"} <= names, names
        # Started as root: no sandbox is host root, and the executor is the user sentinel unless
        # the supervisor said why it could not be (a checkout the user cannot read).
        uids = {pid: _uid(pid) for pid in started if alive(pid)}
        sandboxes = [
            pid for pid in uids if Path(f"/proc/{pid}/comm").read_text().strip() == "bwrap"
        ]
        assert sandboxes and all(uids[pid] != 0 for pid in sandboxes), uids
        # The executor: `python -m functions`, gunicorn's master and its forked worker.
        executors = [pid for pid in uids if _cmdline(pid).endswith(" -m functions ")]
        assert executors, uids
        if os.geteuid() == 0 and any(uids[pid] == 0 for pid in executors):
            assert any("executor   the user sentinel cannot" in line for line in lines), lines
        process.send_signal(signal.SIGINT)
        process.wait(60)
        assert process.returncode == 0
        # Killed processes may take a moment to be gone; one that lives on is still there later.
        deadline = time.monotonic() + 10
        survivors = [pid for pid in started if alive(pid)]
        while survivors and time.monotonic() < deadline:
            time.sleep(0.05)
            survivors = [pid for pid in started if alive(pid)]
        assert survivors == [], survivors
    finally:  # a failed check above must not leave the whole service running
        if process.poll() is None:
            process.kill()  # its children get SIGTERM (their parent-death signal)
            process.wait(10)


def _uid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[1])
    except (OSError, IndexError):
        return -1


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
