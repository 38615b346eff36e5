"""Settings of the executor, read from the environment. Defaults documented here only."""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from functions.languages import REGISTRY_PATH

LIMITS_MODES = ("auto", "rlimit")


def limits_wanted() -> str:
    """SENTINEL_LIMITS: "auto" (the default: a delegated cgroup, v1 then v2, else rlimits) or
    "rlimit" (rlimits and the sandbox's own watch only, as in a pod, even where a cgroup would
    be delegated: functions/sandbox.py delegation()). Read once per process, at the first run."""
    wanted = os.environ.get("SENTINEL_LIMITS", "").strip() or "auto"
    if wanted not in LIMITS_MODES:
        raise ValueError(f"SENTINEL_LIMITS must be one of {', '.join(LIMITS_MODES)}: {wanted!r}")
    return wanted


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class ExecutorSettings:
    """How the executor runs and the ceilings no submission may exceed."""

    port: int = 8081
    # None: every installed language of the registry; else a comma list (one per Knative Service).
    languages: tuple[str, ...] | None = None
    work_dir: Path = Path(tempfile.gettempdir()) / "sentinel-work"
    # The language registry; an operator's own file adds or narrows languages without a release.
    registry_path: Path = REGISTRY_PATH
    name: str = "executor"
    default_cpu_ms: int = 2000
    default_wall_ms: int = 5000
    default_memory_mb: int = 256
    default_output_kb: int = 64
    default_processes: int = 64
    max_cpu_ms: int = 15_000
    max_wall_ms: int = 30_000
    max_memory_mb: int = 1024
    max_output_kb: int = 1024
    # The whole result's JSON (eventing/contract.py bounded()): texts beyond are cut, flagged.
    max_result_bytes: int = 2 * 1024 * 1024
    compile_cpu_ms: int = 10_000
    compile_wall_ms: int = 20_000
    compile_memory_mb: int = 1024
    default_file_size_kb: int = 65_536
    max_file_size_kb: int = 262_144
    default_stack_kb: int = 65_536
    max_stack_kb: int = 1_048_576
    max_processes: int = 256
    # The compile cache's bound (LRU by bytes); 0 turns the cache off. Kept under cache_dir,
    # by default <work_dir>/cache (same filesystem as the jobs: entries are hard-linked).
    compile_cache_mb: int = 256
    cache_dir: Path | None = None
    # Runs at once per language (threads wait on child processes, not the GIL). Each language
    # has its own: one language's backlog never delays another's (functions/app.py).
    slots: int = os.cpu_count() or 2
    # Spare threads beyond the slots, so /health answers while every slot runs a job.
    health_threads: int = 0
    # The sandbox's /proc (functions/procfs.py): "auto" probes whether the kernel mounts a fresh
    # procfs here (not in a container with a masked /proc); "private" or "static" forces one.
    sandbox_proc: str = "auto"
    # How memory and processes are limited: "auto" or "rlimit" (limits_wanted above).
    limits: str = "auto"

    @property
    def cache_root(self) -> Path:
        """Where the compile cache and precompiled headers live."""
        return self.cache_dir or self.work_dir / "cache"

    @classmethod
    def from_env(cls) -> ExecutorSettings:
        """PORT, SENTINEL_LANGUAGES, SENTINEL_REGISTRY, SENTINEL_WORK_DIR, SENTINEL_MAX_*,
        SENTINEL_DEFAULT_*,
        SENTINEL_COMPILE_*, SENTINEL_COMPILE_CACHE_MB, SENTINEL_CACHE_DIR, SENTINEL_SLOTS,
        SENTINEL_HEALTH_THREADS, SENTINEL_SANDBOX_PROC and SENTINEL_LIMITS."""
        cache_dir = os.environ.get("SENTINEL_CACHE_DIR")
        wanted = os.environ.get("SENTINEL_LANGUAGES", "").strip()
        return cls(
            registry_path=Path(os.environ.get("SENTINEL_REGISTRY") or REGISTRY_PATH),
            port=_int("PORT", cls.port),
            languages=None
            if wanted in ("", "all")
            else tuple(w.strip() for w in wanted.split(",") if w.strip()),
            work_dir=Path(os.environ.get("SENTINEL_WORK_DIR") or cls.work_dir),
            name=os.environ.get("SENTINEL_EXECUTOR_NAME") or f"executor@{socket.gethostname()}",
            default_cpu_ms=_int("SENTINEL_DEFAULT_CPU_MS", cls.default_cpu_ms),
            default_wall_ms=_int("SENTINEL_DEFAULT_WALL_MS", cls.default_wall_ms),
            default_memory_mb=_int("SENTINEL_DEFAULT_MEMORY_MB", cls.default_memory_mb),
            default_output_kb=_int("SENTINEL_DEFAULT_OUTPUT_KB", cls.default_output_kb),
            default_processes=_int("SENTINEL_DEFAULT_PROCESSES", cls.default_processes),
            max_cpu_ms=_int("SENTINEL_MAX_CPU_MS", cls.max_cpu_ms),
            max_wall_ms=_int("SENTINEL_MAX_WALL_MS", cls.max_wall_ms),
            max_memory_mb=_int("SENTINEL_MAX_MEMORY_MB", cls.max_memory_mb),
            max_output_kb=_int("SENTINEL_MAX_OUTPUT_KB", cls.max_output_kb),
            max_result_bytes=_int("SENTINEL_MAX_RESULT_BYTES", cls.max_result_bytes),
            compile_cpu_ms=_int("SENTINEL_COMPILE_CPU_MS", cls.compile_cpu_ms),
            compile_wall_ms=_int("SENTINEL_COMPILE_WALL_MS", cls.compile_wall_ms),
            compile_memory_mb=_int("SENTINEL_COMPILE_MEMORY_MB", cls.compile_memory_mb),
            default_file_size_kb=_int("SENTINEL_DEFAULT_FILE_SIZE_KB", cls.default_file_size_kb),
            max_file_size_kb=_int("SENTINEL_MAX_FILE_SIZE_KB", cls.max_file_size_kb),
            default_stack_kb=_int("SENTINEL_DEFAULT_STACK_KB", cls.default_stack_kb),
            max_stack_kb=_int("SENTINEL_MAX_STACK_KB", cls.max_stack_kb),
            max_processes=_int("SENTINEL_MAX_PROCESSES", cls.max_processes),
            compile_cache_mb=_int("SENTINEL_COMPILE_CACHE_MB", cls.compile_cache_mb),
            cache_dir=Path(cache_dir) if cache_dir else None,
            slots=_int("SENTINEL_SLOTS", cls.slots),
            health_threads=_int("SENTINEL_HEALTH_THREADS", cls.health_threads),
            sandbox_proc=os.environ.get("SENTINEL_SANDBOX_PROC") or cls.sandbox_proc,
            limits=limits_wanted(),
        )
