"""The whole local service, measured against plain bubblewrap in one run.

1. Ceiling: python hello world back-to-back with 2 workers: unsandboxed, in plain bubblewrap, and
   in Sentinel's sandbox alone.
2. The service: python hello world over HTTP at concurrency 1, 4 and 16 with ?wait=true, from wrk
   (benchmarks/wrk_load.py); then from Python clients polling GET /job/{id}.
3. C++ and Java compile+run: a new source, then the same source again (the compile cache).
4. One job of 10 test cases against 10 jobs of one test case.
5. Ingest: submissions accepted per second with the executor stopped.
6. The Piston v2 API: Sentinel's own, and beside it any Piston given by URL (`--piston-url`).
7. CPU per job of each process of the stack (where the time of a job goes, hop by hop).

Everything runs on loopback against a stack this script starts (its own Redis), with bounded
request counts and time. Results go to docs/bench/service.json and to the section of
docs/benchmarks.md between its markers. Never asserted anywhere: numbers move with the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from benchmarks import proc_cpu, wrk_load
from functions import identity, sandbox
from sentinel.serve import Supervisor, free_port, start_stack

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "bench" / "service.json"
DOC = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- service:begin -->", "<!-- service:end -->"
HELLO = {"language": "python", "code": 'print("hi")'}
POLL_S = 0.002


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def summary(latencies_ms: list[float], elapsed_s: float) -> dict[str, float]:
    """Throughput and latency figures of one measured batch."""
    return {
        "n": len(latencies_ms),
        "per_s": round(len(latencies_ms) / elapsed_s, 1),
        "p50_ms": round(statistics.median(latencies_ms), 1),
        "p95_ms": round(percentile(latencies_ms, 0.95), 1),
        "min_ms": round(min(latencies_ms), 1),
        "max_ms": round(max(latencies_ms), 1),
    }


def hammer(task: Callable[[], float], workers: int, count: int, budget_s: float) -> dict[str, Any]:
    """Run `task` `count` times on `workers` threads (or until `budget_s`); it returns ms."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + budget_s
    remaining = [count]

    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while time.monotonic() < deadline:
                with lock:
                    if remaining[0] <= 0:
                        return
                    remaining[0] -= 1
                value = task()
                with lock:
                    latencies.append(value)
        except BaseException as exc:  # re-raised below: a thread's exception is otherwise lost
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return summary(latencies, time.perf_counter() - started)


def ceiling(runs: int) -> dict[str, Any]:
    """Section 1: python hello world, 2 workers, sandboxed (functions.sandbox.run) and bare."""
    limits = sandbox.RunLimits(cpu_ms=2000, wall_ms=5000, memory_kb=256 * 1024, output_bytes=65536)
    box = Path(tempfile.mkdtemp(prefix="bench-box-"))
    (box / "main.py").write_text('print("hi")')

    def sandboxed() -> float:
        started = time.perf_counter()
        outcome = sandbox.run(["/usr/bin/python3", "main.py"], limits=limits, box=box)
        assert outcome.stdout == b"hi\n", outcome
        return (time.perf_counter() - started) * 1000

    def bare() -> float:
        started = time.perf_counter()
        subprocess.run(
            ["/usr/bin/python3", str(box / "main.py")], env={}, capture_output=True, check=True
        )
        return (time.perf_counter() - started) * 1000

    ids = identity.sandbox_ids()
    switch: dict[str, Any] = (
        {"user": ids.uid, "group": ids.gid, "extra_groups": []} if ids.switch else {}
    )

    def plain_bwrap() -> float:
        started = time.perf_counter()
        done = subprocess.run(
            [*PLAIN_BWRAP, "/usr/bin/python3", "-c", 'print("hi")'],
            env={},
            capture_output=True,
            check=True,
            **switch,
        )
        assert done.stdout == b"hi\n", done
        return (time.perf_counter() - started) * 1000

    for _ in range(5):  # warm the prepared sandboxes and the page cache
        sandboxed()
        bare()
        plain_bwrap()
    return {
        "sandboxed": hammer(sandboxed, 2, runs, 60),
        "bare": hammer(bare, 2, runs, 60),
        "plain_bwrap": hammer(plain_bwrap, 2, runs, 60),
    }


# The ceiling: bubblewrap with every namespace and the toolchain read-only, nothing else
# (no limits, no seccomp, no /box, no prepared sandbox), as the sandbox's own user.
PLAIN_BWRAP = [
    "/usr/bin/bwrap",
    "--unshare-all",
    "--die-with-parent",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
    "--clearenv",
]


class Client:
    """The calls a client of the service makes, one session per thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.local = threading.local()

    def session(self) -> requests.Session:
        found: requests.Session | None = getattr(self.local, "session", None)
        if found is None:
            found = self.local.session = requests.Session()
        return found

    def waited(self, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """POST ?wait=true; falls back to polling if the answer was a 202."""
        started = time.perf_counter()
        answer = self.session().post(f"{self.url}/api/execute?wait=true", json=body, timeout=60)
        job = answer.json()
        if answer.status_code == 202:
            job = self._poll(job["id"])
        return (time.perf_counter() - started) * 1000, job

    def polled(self, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """POST, then GET /job/{id} every POLL_S until it is finished."""
        started = time.perf_counter()
        answer = self.session().post(f"{self.url}/api/execute", json=body, timeout=60)
        assert answer.status_code == 202, answer.text
        job = self._poll(answer.json()["id"])
        return (time.perf_counter() - started) * 1000, job

    def _poll(self, job_id: str) -> dict[str, Any]:
        while True:
            job: dict[str, Any] = self.session().get(f"{self.url}/job/{job_id}", timeout=10).json()
            if job["status"] in ("completed", "failed"):
                return job
            time.sleep(POLL_S)


def service_wrk(url: str, seconds: int) -> dict[str, Any]:
    """Section 2: python hello world through the whole service with ?wait=true, from wrk, per
    concurrency: good answers per second against the plain-bubblewrap ceiling."""
    found: dict[str, Any] = {}
    for concurrency in (1, 4, 16):
        target = f"{url}/api/execute?wait=true"
        wrk_load.load(target, HELLO, EXPECT_HI, connections=concurrency, seconds=2)  # warm-up
        row = wrk_load.load(target, HELLO, EXPECT_HI, connections=concurrency, seconds=seconds)
        found[f"c{concurrency}"] = row
        print(f"  wrk concurrency {concurrency:>2} ?wait=true: {row}")
    return found


def piston(sentinel_url: str, piston_url: str | None, seconds: int) -> dict[str, Any]:
    """Section 6: the Piston v2 API (`POST /api/v2/execute`), Sentinel's own and, when given,
    a Piston at `piston_url`, each row measured for both in turn in this run."""
    rows = {
        "python-c1": (PISTON_PYTHON, 1, False),
        "python-c16": (PISTON_PYTHON, 16, False),
        "cpp-new-c1": (PISTON_CPP, 1, True),
    }
    found: dict[str, Any] = {"piston_url": piston_url, "rows": {}}
    for name, (body, concurrency, fresh) in rows.items():
        row: dict[str, Any] = {}
        for who, base in (("sentinel", sentinel_url), ("piston", piston_url)):
            if base is None:
                continue
            target = f"{base.rstrip('/')}/api/v2/execute"
            wrk_load.load(target, body, EXPECT_HI, connections=concurrency, seconds=2, fresh=fresh)
            row[who] = wrk_load.load(
                target, body, EXPECT_HI, connections=concurrency, seconds=seconds, fresh=fresh
            )
        found["rows"][name] = row
        print(f"  piston API {name}: {row}")
    return found


EXPECT_HI = '"hi\\n"'  # the output as it reads inside a JSON answer
PISTON_PYTHON = {"language": "python", "version": "*", "files": [{"content": 'print("hi")'}]}
PISTON_CPP = {
    "language": "c++",
    "version": "*",
    "files": [
        {
            "name": "main.cpp",
            "content": '#include <iostream>\nint main() { std::cout << "hi" << std::endl; }'
            " // NONCE",
        }
    ],
}


def cpu_per_hop(supervisor: Supervisor, client: Client, jobs: int) -> dict[str, Any]:
    """Section 7: CPU time per job of each process of the stack (its process tree: the
    executor's includes the sandboxed python hello itself), python hello at concurrency 4."""

    def task() -> float:
        elapsed, job = client.waited(HELLO)
        assert job.get("output") == "hi\n", job
        return elapsed

    hammer(task, 4, 20, 30)  # warm-up
    before = {c.name: proc_cpu.tree_cpu_ms(c.process.pid) for c in supervisor.children}
    client_before = time.process_time()
    hammer(task, 4, jobs, 120)
    after = {c.name: proc_cpu.tree_cpu_ms(c.process.pid) for c in supervisor.children}
    found = {name: round((after[name] - before[name]) / jobs, 2) for name in before}
    found["client (this process)"] = round((time.process_time() - client_before) * 1000 / jobs, 2)
    return {"jobs": jobs, "ms_per_job": found}


def service(client: Client, jobs: dict[int, int]) -> dict[str, Any]:
    """Section 2b: python hello world through the whole service from Python clients in this
    process, POST then GET /job/{id} until finished, per concurrency."""
    found: dict[str, Any] = {}
    for concurrency, count in jobs.items():
        for mode in ("poll",):
            call = client.waited if mode == "wait" else client.polled

            def task(call: Callable[..., tuple[float, dict[str, Any]]] = call) -> float:
                elapsed, job = call(HELLO)
                assert job.get("output") == "hi\n", job
                return elapsed

            hammer(task, concurrency, concurrency * 2, 30)  # warm-up
            found[f"c{concurrency}-{mode}"] = hammer(task, concurrency, count, 90)
            print(f"  concurrency {concurrency:>2} {mode}: {found[f'c{concurrency}-{mode}']}")
    return found


COMPILED = {
    "cpp": '#include <cstdio>\nint main() {{ std::puts("hi"); }} // {nonce}',
    "java": (
        "public class Main {{ public static void main(String[] a) {{ "
        'System.out.println("hi"); }} }} // {nonce}'
    ),
}


def compiled(client: Client, repeats: int) -> dict[str, Any]:
    """Section 3: a new source (compile + run) against the same source again (cached)."""
    found: dict[str, Any] = {}
    for language, template in COMPILED.items():
        first, again = [], []
        for _ in range(repeats):
            body = {"language": language, "code": template.format(nonce=uuid.uuid4().hex)}
            elapsed, job = client.waited(body)
            assert job.get("output") == "hi\n", job
            first.append(elapsed)
            elapsed, job = client.waited(body)
            assert job.get("output") == "hi\n", job
            again.append(elapsed)
        found[language] = {
            "first_p50_ms": round(statistics.median(first), 1),
            "again_p50_ms": round(statistics.median(again), 1),
            "first": [round(v, 1) for v in first],
            "again": [round(v, 1) for v in again],
        }
        print(
            f"  {language}: {found[language]['first_p50_ms']} ms, again "
            f"{found[language]['again_p50_ms']} ms"
        )
    return found


def cases_vs_jobs(client: Client, repeats: int) -> dict[str, Any]:
    """Section 4: one job with 10 test cases against 10 single-case jobs sent together."""
    code = "print(int(input()) * 2)"
    one_job, ten_jobs = [], []
    with ThreadPoolExecutor(10) as pool:
        for _ in range(repeats):
            cases = [{"input": str(i), "expected": str(2 * i)} for i in range(10)]
            elapsed, job = client.waited({"language": "python", "code": code, "testCases": cases})
            assert job.get("verdict") == "accepted", job
            one_job.append(elapsed)
            started = time.perf_counter()
            results = list(
                pool.map(
                    lambda i: client.waited({"language": "python", "code": code, "input": str(i)}),
                    range(10),
                )
            )
            assert all(job.get("output") == f"{2 * i}\n" for i, (_, job) in enumerate(results))
            ten_jobs.append((time.perf_counter() - started) * 1000)
    return {
        "one_job_10_cases_p50_ms": round(statistics.median(one_job), 1),
        "ten_jobs_1_case_p50_ms": round(statistics.median(ten_jobs), 1),
    }


def ingest(client: Client, count: int, workers: int) -> dict[str, Any]:
    """Section 5: accepted submissions per second (the executor is stopped by the caller)."""

    def task() -> float:
        started = time.perf_counter()
        answer = client.session().post(f"{client.url}/api/execute", json=HELLO, timeout=30)
        assert answer.status_code == 202, answer.text
        return (time.perf_counter() - started) * 1000

    hammer(task, workers, 100, 30)  # warm-up
    return hammer(task, workers, count, 60)


WRK_SCRIPT = """wrk.method = "POST"
wrk.body = '{"language": "python", "code": "print(42)"}'
wrk.headers["Content-Type"] = "application/json"
"""


def ingest_wrk(client: Client, seconds: int, connections: int) -> dict[str, Any] | None:
    """Section 5 again with wrk, a load generator in C: the Python client above spends about as
    much CPU per request as the ingress does, on the same 2 cores. Jobs queued are counted from
    GET /load, so an answer that was not a 202 cannot pass for an accepted submission."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = Path(tempfile.mkdtemp(prefix="bench-wrk-")) / "post.lua"
    script.write_text(WRK_SCRIPT)

    def queued() -> int:
        load = client.session().get(f"{client.url}/load", timeout=10).json()
        return int(load["totals"]["totalJobs"])

    before = queued()
    done = subprocess.run(
        [
            wrk,
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"{client.url}/api/execute",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    accepted = queued() - before
    # The latency distribution's row, not a "68.50%" in the thread stats.
    p50 = next(line.split()[1] for line in done.stdout.splitlines() if line.split()[:1] == ["50%"])
    return {
        "connections": connections,
        "seconds": seconds,
        "accepted": accepted,
        "per_s": round(accepted / seconds, 1),
        "p50": p50,
    }


def render(results: dict[str, Any]) -> str:
    """The markdown section of docs/benchmarks.md."""
    c = results["ceiling"]
    lines = [
        BEGIN,
        "## The whole service (`./nox.sh -s bench -- service`, benchmarks/service.py)",
        "",
        f"Run of {results['date']} on {results['machine']} (load average at start "
        f"{results['load_at_start']}). Medians with min-max; raw numbers in "
        "[bench/service.json](bench/service.json).",
        "",
        "| 1. ceiling: python hello, 2 workers back-to-back | runs/s | p50 ms |",
        "|---|---|---|",
        f"| unsandboxed (`/usr/bin/python3`, clean env) | {c['bare']['per_s']} | "
        f"{c['bare']['p50_ms']} |",
        f"| plain bubblewrap (`bwrap --unshare-all`, toolchain read-only, nothing else) "
        f"| {c['plain_bwrap']['per_s']} | {c['plain_bwrap']['p50_ms']} |",
        f"| Sentinel's sandbox alone (`functions.sandbox.run`: limits, seccomp, /box) "
        f"| {c['sandboxed']['per_s']} | {c['sandboxed']['p50_ms']} |",
        "",
        f"Sentinel's sandbox alone: x{c['sandboxed']['per_s'] / c['plain_bwrap']['per_s']:.2f} "
        "plain bubblewrap's throughput.",
        "",
        "| 2. python hello through the whole service, ?wait=true (wrk) | jobs/s "
        "| x plain bubblewrap | p50 ms | p95 ms | bad answers |",
        "|---|---|---|---|---|---|",
    ]
    for key, row in results["service_wrk"].items():
        ratio = row["per_s"] / c["plain_bwrap"]["per_s"]
        lines.append(
            f"| concurrency {key[1:]} | {row['per_s']} | x{ratio:.2f} | {row['p50_ms']} "
            f"| {row['p95_ms']} | {row['bad']} |"
        )
    lines += [
        "",
        "| 2b. the same from Python clients, POST then polling GET /job | jobs/s "
        "| x plain bubblewrap | p50 ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for key, row in results["service"].items():
        ratio = row["per_s"] / c["plain_bwrap"]["per_s"]
        concurrency = key[1:].split("-")[0]
        lines.append(
            f"| concurrency {concurrency} | {row['per_s']} | x{ratio:.2f} | {row['p50_ms']} "
            f"| {row['p95_ms']} |"
        )
    lines += [
        "",
        "| 3. compile + run, POST to result (?wait=true) | new source p50 ms "
        "| same source again p50 ms |",
        "|---|---|---|",
    ]
    for language, row in results["compiled"].items():
        lines.append(f"| {language} hello | {row['first_p50_ms']} | {row['again_p50_ms']} |")
    four = results["cases_vs_jobs"]
    five = results["ingest"]
    lines += [
        "",
        "| 4. python, 10 inputs | p50 ms |",
        "|---|---|",
        f"| one job with 10 test cases | {four['one_job_10_cases_p50_ms']} |",
        f"| 10 jobs of one test case, sent at once | {four['ten_jobs_1_case_p50_ms']} |",
        "",
        f"5. Ingest with the executor stopped: **{five['per_s']} submissions/s** accepted "
        f"({five['n']} POSTs from {results['ingest_workers']} Python clients in this process, "
        f"p50 {five['p50_ms']} ms, p95 {five['p95_ms']} ms)"
        + (
            f"; with wrk (a load generator in C, {wrk['connections']} connections, "
            f"{wrk['seconds']} s): **{wrk['per_s']} submissions/s** ({wrk['accepted']} queued, "
            f"counted from /load; p50 {wrk['p50']})."
            if (wrk := results.get("ingest_wrk"))
            else "."
        ),
        "",
        *_render_piston(results["piston"]),
        "",
        *_render_cpu(results["cpu_per_hop"]),
        "",
        "Reproduce: `./nox.sh -s bench -- service` (a Piston beside it: "
        "`SENTINEL_BENCH_PISTON_URL=http://host:2000 ./nox.sh -s bench -- service`).",
        END,
    ]
    return "\n".join(lines)


def _render_cpu(found: dict[str, Any]) -> list[str]:
    """Section 7's table: where a job's CPU goes, per process."""
    lines = [
        f"| 7. CPU per job, python hello at concurrency 4 ({found['jobs']} jobs) | ms |",
        "|---|---|",
    ]
    total = 0.0
    for name, ms in found["ms_per_job"].items():
        lines.append(f"| {name} | {ms} |")
        total += ms
    lines.append(f"| all of it | {round(total, 2)} |")
    return lines


def _render_piston(found: dict[str, Any]) -> list[str]:
    """Section 6's table: Sentinel's /api/v2 and, when one was given, a Piston's."""
    names = {
        "python-c1": "python hello, concurrency 1",
        "python-c16": "python hello, concurrency 16",
        "cpp-new-c1": "C++ `<iostream>` hello, a new source each time, concurrency 1",
    }
    lines = [
        "| 6. Piston v2 API, `POST /api/v2/execute` (wrk) | Sentinel jobs/s | Sentinel p50 ms "
        "| Piston jobs/s | Piston p50 ms | Sentinel / Piston |",
        "|---|---|---|---|---|---|",
    ]
    for key, row in found["rows"].items():
        ours, theirs = row["sentinel"], row.get("piston")
        if theirs is None:
            lines.append(f"| {names[key]} | {ours['per_s']} | {ours['p50_ms']} | – | – | – |")  # noqa: RUF001
            continue
        ratio = ours["per_s"] / theirs["per_s"] if theirs["per_s"] else float("inf")
        lines.append(
            f"| {names[key]} | {ours['per_s']} | {ours['p50_ms']} | {theirs['per_s']} "
            f"| {theirs['p50_ms']} | x{ratio:.2f} |"
        )
    if found["piston_url"] is None:
        lines += ["", "No Piston was given to this run (`--piston-url`): its columns are empty."]
    return lines


def write(results: dict[str, Any]) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    section = render(results)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text)


def _headers_built(supervisor: Supervisor, timeout_s: float = 300) -> None:
    """Wait until the executor has built its precompiled headers (a first start's g++ builds
    bits/stdc++.h for several seconds on one of the two cores, which measured concurrency 1 at
    48-57 ms p50 instead of 41, 2026-12-02)."""
    executor = next(c for c in supervisor.children if c.name == "executor")
    health = f"http://127.0.0.1:{executor.env['PORT']}/health"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException, ValueError):
            if requests.get(health, timeout=5).json().get("headersBuilding") == 0:
                return
        time.sleep(0.5)
    print(f"  the executor's precompiled headers were still building after {timeout_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument(
        "--piston-url",
        default=os.environ.get("SENTINEL_BENCH_PISTON_URL") or None,
        help="a Piston (or any Piston v2 API) to measure beside Sentinel's own /api/v2",
    )
    args = parser.parse_args()
    scale = 0.25 if args.quick else 1.0
    jobs = {1: int(40 * scale), 4: int(80 * scale), 16: int(160 * scale)}
    seconds = max(3, int(10 * scale))
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}",
        "load_at_start": round(os.getloadavg()[0], 2),
    }
    print("1. ceiling")
    results["ceiling"] = ceiling(int(200 * scale))
    print(f"  {results['ceiling']}")
    data = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    supervisor = Supervisor(data, quiet=True)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PORT")}
    env |= {
        "SENTINEL_RATE_LIMIT": "",
        "SENTINEL_READ_RATE_LIMIT": "",
        "SENTINEL_BACKLOG_CAP": "1000000",
        "SENTINEL_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:6]}",
    }
    try:
        url = start_stack(supervisor, env, "127.0.0.1", free_port(), data)
        _headers_built(supervisor)
        client = Client(url)
        print("2. service")
        results["service_wrk"] = service_wrk(url, seconds)
        results["service"] = service(client, jobs)
        print("3. compile + run")
        results["compiled"] = compiled(client, max(2, int(5 * scale)))
        print("4. test cases vs jobs")
        results["cases_vs_jobs"] = cases_vs_jobs(client, max(2, int(5 * scale)))
        print(f"  {results['cases_vs_jobs']}")
        print("7. CPU per job of each process")
        results["cpu_per_hop"] = cpu_per_hop(supervisor, client, max(40, int(200 * scale)))
        print(f"  {results['cpu_per_hop']}")
        print("6. the Piston API")
        results["piston"] = piston(url, args.piston_url, seconds)
        print("5. ingest, executor stopped")
        executor = next(c for c in supervisor.children if c.name == "executor")
        os.killpg(executor.process.pid, signal.SIGKILL)
        results["ingest_workers"] = 16
        results["ingest"] = ingest(client, int(4000 * scale), 16)
        print(f"  {results['ingest']}")
        results["ingest_wrk"] = ingest_wrk(client, max(3, int(10 * scale)), 32)
        print(f"  wrk: {results['ingest_wrk']}")
    finally:
        supervisor.stop(grace_s=2)
    write(results)
    print(f"wrote {OUT.relative_to(REPO)} and the service section of docs/benchmarks.md")


if __name__ == "__main__":
    sys.exit(main())
