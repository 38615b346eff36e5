"""Hello world per language: bare (a clean environment, no sandbox) against functions.sandbox.run,
interleaved in one run so both see the same machine. Writes docs/bench/sandbox.json.

The compile step is done once, outside the timing; what is timed is one run of the program.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from functions import sandbox, settings
from functions.languages import load_registry, served

REPEATS = 25
GAP_S = 0.05  # between runs: longer than a spare takes to be prepared
HELLO = {
    "python": 'print("hi")',
    "javascript": 'console.log("hi")',
    "java": (
        'public class Main { public static void main(String[] a) { System.out.println("hi"); } }'
    ),
    "cpp": '#include <cstdio>\nint main() { std::puts("hi"); }',
    "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("hi") }',
}
OUT = Path(__file__).resolve().parents[1] / "docs" / "bench" / "sandbox.json"


def _prestarting(ahead: bool) -> None:
    """SENTINEL_PRESTART for the runs that follow (functions/settings.py reads it once)."""
    os.environ["SENTINEL_PRESTART"] = "true" if ahead else "false"
    settings.prestart_wanted.cache_clear()
    # read again here, not inside the timed run: reading the settings takes ~3 ms
    settings.prestart_wanted()


def main() -> None:
    languages = served(load_registry(), None)
    limits = sandbox.RunLimits(
        cpu_ms=5000, wall_ms=10_000, memory_kb=512 * 1024, output_bytes=65536
    )
    results = {}
    for name, code in HELLO.items():
        language = languages.get(name)
        if language is None:
            continue
        work = Path(tempfile.mkdtemp(prefix="bench-"))
        # Go's build cache outside the box: a box holds at most 256 files (functions/box_files.py).
        cache = Path(tempfile.mkdtemp(prefix="bench-gocache-"))
        try:
            source = language.source_name(code)
            (work / source).write_text(code)
            memory = limits.memory_kb
            env = language.environment(memory, source)
            if language.compile:
                subprocess.run(
                    language.expand(language.compile, memory, source),
                    cwd=work,
                    env={**sandbox.BASE_ENV, **env, "HOME": str(work), "TMPDIR": str(work)}
                    | ({"GOCACHE": str(cache / "gc"), "GOPATH": str(cache / "gp")}),
                    check=True,
                    capture_output=True,
                )
            argv = language.expand(language.run, memory, source)
            bare_argv = [a.replace("/box/", f"{work}/") for a in argv]
            bare_env = {**sandbox.BASE_ENV, **env}
            bare, boxed, cold = [], [], []
            # Every program starts ahead in its spare (functions/prestart.py: python's
            # interpreter, any other in a waiting shell): the same run with SENTINEL_PRESTART off
            # (bwrap blocked just before its exec) is timed beside it.
            modes = (True, False)
            for _ in range(3):  # warm caches and the spare sandboxes
                subprocess.run(bare_argv, cwd=work, env=bare_env, capture_output=True)
                for ahead in modes:
                    _prestarting(ahead)
                    sandbox.run(argv, limits=limits, box=work, env=env, ro_paths=language.ro_paths)
            for _ in range(REPEATS):
                started = time.perf_counter()
                subprocess.run(bare_argv, cwd=work, env=bare_env, capture_output=True, check=True)
                bare.append((time.perf_counter() - started) * 1000)
                # let the spare be prepared, as between requests (that takes 17-25 ms here)
                time.sleep(GAP_S)
                for ahead in modes:
                    _prestarting(ahead)
                    started = time.perf_counter()
                    outcome = sandbox.run(
                        argv, limits=limits, box=work, env=env, ro_paths=language.ro_paths
                    )
                    (boxed if ahead else cold).append((time.perf_counter() - started) * 1000)
                    assert outcome.stdout == b"hi\n", outcome
                    time.sleep(GAP_S)
            _prestarting(True)
            b, s = statistics.median(bare), statistics.median(boxed)
            results[name] = {
                "bare_ms": round(b, 2),
                "sandboxed_ms": round(s, 2),
                "ratio": round(s / b, 2),
                "over_bare_ms": round(s - b, 2),
                "runs": REPEATS,
            }
            if cold:
                c = statistics.median(cold)
                results[name] |= {
                    "not_prestarted_ms": round(c, 2),
                    "not_prestarted_ratio": round(c / b, 2),
                }
                print(f"{name:11} not prestarted {c:7.2f} ms  x{c / b:.2f}")
            print(
                f"{name:11} bare {b:7.2f} ms  sandboxed {s:7.2f} ms  x{s / b:.2f}  +{s - b:.2f} ms"
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "what": "hello world, one run, median of interleaved bare and sandboxed runs",
                "limits": sandbox.limits_mode(),
                "machine": f"{platform.machine()} python {sys.version.split()[0]}",
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()
