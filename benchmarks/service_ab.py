"""The whole service of an earlier commit against today's, side by side in one run.

`python -m benchmarks.service_ab --old REV` checks REV out into a temporary git worktree and, in
turn (old, new, old, new), starts each checkout's own stack (its sentinel/serve.py, its processes)
and measures python hello with ?wait=true from wrk (benchmarks/wrk_load.py) at concurrency 1, 4
and 16, then the CPU per job of each process at concurrency 4. Each measurement runs in a child
Python whose import path starts with that checkout, so the old code really is the old code.
Prints a JSON line per round; nothing is written to docs/ (the table in docs/benchmarks.md is
made from a run's output by hand).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HELLO = {"language": "python", "code": 'print("hi")'}
EXPECT = '"hi\\n"'


def measure(checkout: Path, seconds: int) -> dict[str, Any]:
    """In this process (started by `main` with `checkout` first on its path): one round."""
    here = Path(__file__).resolve().parent  # run by path: its directory is not a package root
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    wrk_load, proc_cpu = _own("wrk_load"), _own("proc_cpu")
    from sentinel.serve import Supervisor, free_port, start_stack  # the checkout's own

    data = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    supervisor = Supervisor(data, quiet=True)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PORT")}
    env |= {
        "PYTHONPATH": str(checkout),
        "SENTINEL_RATE_LIMIT": "",
        "SENTINEL_READ_RATE_LIMIT": "",
        "SENTINEL_BACKLOG_CAP": "1000000",
        "SENTINEL_KEY_PREFIX": f"bench-ab-{uuid.uuid4().hex[:6]}",
    }
    found: dict[str, Any] = {"checkout": str(checkout)}
    try:
        url = start_stack(supervisor, env, "127.0.0.1", free_port(), data)
        found["headers_wait_s"] = _headers_built(data / "executor.log")
        target = f"{url}/api/execute?wait=true"
        for concurrency in (1, 4, 16):
            wrk_load.load(target, HELLO, EXPECT, connections=concurrency, seconds=2)
            found[f"c{concurrency}"] = wrk_load.load(
                target, HELLO, EXPECT, connections=concurrency, seconds=seconds
            )
        before = {c.name: proc_cpu.tree_cpu_ms(c.process.pid) for c in supervisor.children}
        row = wrk_load.load(target, HELLO, EXPECT, connections=4, seconds=seconds)
        after = {c.name: proc_cpu.tree_cpu_ms(c.process.pid) for c in supervisor.children}
        found["cpu_ms_per_job_c4"] = {
            name: round((after[name] - before[name]) / max(1, row["good"]), 2) for name in before
        }
    finally:
        supervisor.stop(grace_s=2)
    return found


def _headers_built(executor_log: Path, timeout_s: float = 120) -> float:
    """Seconds waited until the executor logged the end of its precompiled headers' builds (g++
    on one of the two cores for several seconds at each start: measured concurrency 1 at 48-57
    ms p50 instead of 41). Read from its log, which every checkout writes, rather than from
    /health's headersBuilding, which older ones lack."""
    from functions.languages import load_registry  # the checkout's own

    headers = len(load_registry()["cpp"].precompiled_headers)  # one log line each
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        with contextlib.suppress(OSError):
            said = executor_log.read_text(errors="replace")
            ended = said.count('"precompiled header ready"') + said.count(
                '"precompiled header failed"'
            )
            if ended >= headers:
                break
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)


def _own(name: str) -> Any:
    """This repository's benchmarks/<name>.py, loaded by its path: the checkout measured has
    its own `benchmarks` package first on the import path, perhaps without it."""
    spec = importlib.util.spec_from_file_location(
        f"_bench_{name}", Path(__file__).with_name(f"{name}.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--old", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--rounds", type=int, default=2, help="old/new pairs")
    parser.add_argument("--seconds", type=int, default=10, help="per measured row")
    parser.add_argument("--checkout", help=argparse.SUPPRESS)  # a child's own round
    args = parser.parse_args()
    if args.checkout:
        print("ROUND " + json.dumps(measure(Path(args.checkout), args.seconds)), flush=True)
        return
    worktree = Path(tempfile.mkdtemp(prefix="bench-ab-old-"))
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), args.old],
        check=True,
        capture_output=True,
    )
    try:
        for _ in range(args.rounds):
            for checkout in (worktree, REPO):
                # The checkout first on the import path, this script run by its own path.
                done = subprocess.run(
                    [sys.executable, __file__, "--old", args.old,
                     "--seconds", str(args.seconds), "--checkout", str(checkout)],
                    env={**os.environ, "PYTHONPATH": str(checkout)},
                    cwd=checkout,
                    capture_output=True,
                    text=True,
                    check=True,
                )  # fmt: skip
                line = next(x for x in done.stdout.splitlines() if x.startswith("ROUND "))
                print(("old " if checkout == worktree else "new ") + line[len("ROUND ") :])
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)],
            check=False,
            capture_output=True,
        )


if __name__ == "__main__":
    main()
