"""Per language: compile time uncached vs cached, and hello world's sandboxed run, through
functions.runner exactly as the executor runs a job. Writes docs/bench/languages.json.

The program is each language's registry example (a hello that reads a name from stdin).

Uncached: a fresh compile cache per sample (the compiler runs; C++ with its precompiled header
already built, as a running executor has it). Cached: the same submission again (the compiler
is skipped; what remains is hashing the sources and hard-linking the artifacts). Run: the
program's wall time in the sandbox as the runner measured it.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from eventing.contract import Submission
from functions import precompiled, runner
from functions.languages import load_registry, served
from functions.settings import ExecutorSettings

SAMPLES = 5
OUT = Path(__file__).resolve().parents[1] / "docs" / "bench" / "languages.json"


def _submit(language: str, settings: ExecutorSettings) -> tuple[float, int, bool | None]:
    registered = served(load_registry(), [language])[language]
    submission = Submission(
        id=uuid.uuid4().hex, language=language, code=registered.example, input="world\n"
    )
    started = time.perf_counter()
    result = runner.execute(submission, registered, settings)
    total_ms = (time.perf_counter() - started) * 1000
    assert result.verdict == "accepted", result
    return total_ms, result.wall_time, result.compile.cached if result.compile else None


def main() -> None:
    languages = served(load_registry(), None)
    root = Path(tempfile.mkdtemp(prefix="bench-languages-"))
    shared = ExecutorSettings(cache_dir=root / "shared", work_dir=root / "work")
    for language in languages.values():
        precompiled.ready(language, shared.cache_root, wait=True)
    results: dict[str, dict[str, object]] = {}
    for name, language in sorted(languages.items()):
        uncached, cached, runs = [], [], []
        for sample in range(SAMPLES):
            fresh = ExecutorSettings(
                cache_dir=root / f"{name}-{sample}", work_dir=root / "work", compile_cache_mb=64
            )
            pch = precompiled.directory(language, shared.cache_root)
            if pch is not None:  # reuse the built header: uncached means the compiler runs
                target = precompiled.directory(language, fresh.cache_root)
                assert target is not None
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(pch)
            first_ms, run_ms, _ = _submit(name, fresh)
            again_ms, _, was_cached = _submit(name, fresh)
            uncached.append(first_ms)
            runs.append(run_ms)
            if was_cached:
                cached.append(again_ms)
        entry: dict[str, object] = {
            "version": language.version,
            "job_uncached_ms": round(statistics.median(uncached), 1),
            "hello_run_wall_ms": statistics.median(runs),
        }
        if language.compile:
            entry["job_cached_ms"] = round(statistics.median(cached), 1) if cached else None
        results[name] = entry
        print(name, entry, file=sys.stderr)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "machine": {"cpus": __import__("os").cpu_count(), "kernel": platform.release()},
                "samples": SAMPLES,
                "languages": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
