"""Settings of the executor, read from the environment (eventing/settings_base.py says how):
every variable of the executor, its default and its meaning, here and nowhere else.

The limit defaults and ceilings come from eventing/contract.py's ExecutorLimits, which the
ingress also assumes until an executor has reported its own (one source for both).
"""

from __future__ import annotations

import functools
import os
import socket
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from eventing.contract import EXECUTOR_LIMITS as LIMITS
from eventing.settings_base import Settings
from functions.languages import REGISTRY_PATH

LIMITS_MODES = ("auto", "rlimit")


def _limit(name: str, kind: str) -> Any:
    """A limit field: its default from ExecutorLimits, its variable SENTINEL_<NAME>."""
    return Field(
        default=getattr(LIMITS, name),
        validation_alias=f"SENTINEL_{name.upper()}",
        description=kind,
        ge=0,
    )


class ExecutorSettings(Settings):
    """How the executor runs and the ceilings no submission may exceed."""

    port: int = Field(default=8081, validation_alias="PORT", description="listen port")
    languages: Annotated[tuple[str, ...] | None, NoDecode] = Field(
        default=None,
        validation_alias="SENTINEL_LANGUAGES",
        description="comma list of languages this executor serves (one per Knative Service); "
        "unset or `all`: every installed language of the registry",
        json_schema_extra={"doc_default": "all installed"},
    )
    work_dir: Path = Field(
        default=Path(tempfile.gettempdir()) / "sentinel-work",
        validation_alias="SENTINEL_WORK_DIR",
        description="where compile boxes live",
        json_schema_extra={"doc_default": "`$TMPDIR/sentinel-work`"},
    )
    registry_path: Path = Field(
        default=REGISTRY_PATH,
        validation_alias="SENTINEL_REGISTRY",
        description="the language registry file; an operator's own "
        "adds or narrows languages without a release",
    )
    name: str = Field(
        default_factory=lambda: f"executor@{socket.gethostname()}",
        validation_alias="SENTINEL_EXECUTOR_NAME",
        description="the name in results and started events",
        json_schema_extra={"doc_default": "`executor@<host>`"},
    )
    sink_url: str | None = Field(
        default=None,
        validation_alias="K_SINK",
        description="where started events are POSTed (the broker ingress; Knative's SinkBinding "
        "sets it); unset: none are sent (functions/events.py)",
    )
    started_delay_s: float = Field(
        default=0.25,
        validation_alias="SENTINEL_STARTED_DELAY_S",
        ge=0,
        description="a job finished within this sends no started event: it goes from queued to "
        "completed (functions/events.py). Why a quarter of a second: under load a python hello "
        "took longer than the former 50 ms, so the busier the machine, the more started events "
        "(five hops each) it had to carry",
    )
    default_cpu_ms: int = _limit("default_cpu_ms", "CPU time of a run when neither the "
                                 "submission nor the language gives one")  # fmt: skip
    default_wall_ms: int = _limit("default_wall_ms", "wall time of a run, likewise")
    default_memory_mb: int = _limit("default_memory_mb", "memory of a run, likewise")
    default_output_kb: int = _limit("default_output_kb", "output of a run, likewise")
    default_processes: int = _limit("default_processes", "processes of a run, likewise")
    max_cpu_ms: int = _limit("max_cpu_ms", "ceiling of `limits.cpuTimeMs`")
    max_wall_ms: int = _limit("max_wall_ms", "ceiling of `limits.wallTimeMs`")
    max_memory_mb: int = _limit("max_memory_mb", "ceiling of `limits.memoryMb`")
    max_output_kb: int = _limit("max_output_kb", "ceiling of `limits.outputKb`")
    max_processes: int = _limit("max_processes", "ceiling of `limits.processes`")
    default_file_size_kb: int = _limit("default_file_size_kb", "RLIMIT_FSIZE of a run "
                                       "(`limits.fileSizeKb`)")  # fmt: skip
    max_file_size_kb: int = _limit("max_file_size_kb", "ceiling of `limits.fileSizeKb`")
    default_stack_kb: int = _limit("default_stack_kb", "RLIMIT_STACK of a run (`limits.stackKb`)")
    max_stack_kb: int = _limit("max_stack_kb", "ceiling of `limits.stackKb`")
    compile_cpu_ms: int = _limit("compile_cpu_ms", "compile step's CPU time: default and "
                                 "ceiling of `limits.compileCpuTimeMs`")  # fmt: skip
    compile_wall_ms: int = _limit("compile_wall_ms", "compile step's wall time, likewise")
    compile_memory_mb: int = _limit("compile_memory_mb", "compile step's memory, likewise")
    max_result_bytes: int = Field(
        default=2 * 1024 * 1024,
        validation_alias="SENTINEL_MAX_RESULT_BYTES",
        ge=0,
        description="the whole result's JSON (eventing/contract.py bounded()): texts beyond are "
        "cut and flagged (the sink reads the same variable, eventing/settings.py)",
    )
    compile_cache_mb: int = Field(
        default=256,
        validation_alias="SENTINEL_COMPILE_CACHE_MB",
        ge=0,
        description="compile cache bound (LRU by bytes); 0 turns it off (docs/languages.md)",
    )
    cache_dir: Path | None = Field(
        default=None,
        validation_alias="SENTINEL_CACHE_DIR",
        description="compile cache and precompiled headers (entries are hard-linked into a job's "
        "directory on the same filesystem, else copied)",
        json_schema_extra={"doc_default": "`<work dir>/cache`"},
    )
    scratch_dir: Path | None = Field(
        default=None,
        validation_alias="SENTINEL_SCRATCH_DIR",
        description="where each job's own directory is made (its sources and what its steps "
        "leave) and removed at its end. On a tmpfs a job's small files cost no disk I/O: on this "
        "machine's ext4 (mounted with synchronous discard) making and removing them took about "
        "5 ms a job. `serve` points it at a private directory in /dev/shm",
        json_schema_extra={"doc_default": "the work dir"},
    )
    slots: int = Field(
        default=os.cpu_count() or 2,
        validation_alias="SENTINEL_SLOTS",
        ge=1,
        json_schema_extra={"doc_default": "CPU count"},
        description="concurrent runs per language. An executor serving "
        "one language has that many gunicorn threads; one serving several, as on one machine, "
        "has 4 per language, and each language still runs at most this many at once, so one "
        "language's backlog never delays another's (functions/app.py)",
    )
    health_threads: int = Field(
        default=0,
        validation_alias="SENTINEL_HEALTH_THREADS",
        ge=0,
        description="spare threads so `/health` answers while every slot is busy",
    )
    sandbox_proc: str = Field(
        default="auto",
        validation_alias="SENTINEL_SANDBOX_PROC",
        description="the sandbox's `/proc` (functions/procfs.py): `auto` probes at start "
        "whether the kernel mounts a fresh procfs here (not in a container with a masked "
        "`/proc`, as in every pod) and else uses the static stand-in; `private` or `static` "
        "forces one. `/health` reports it as `proc`",
    )
    prestart: bool = Field(
        default=True,
        validation_alias="SENTINEL_PRESTART",
        description="start each program in its prepared sandbox ahead of the run: a Python "
        "script's interpreter, which the run only hands the script, and any other program's "
        "waiting shell, which the run only tells to exec it (functions/prestart.py; what a "
        'program can tell of it: docs/security.md, "Prepared sandboxes"); off, bwrap waits '
        "just before its exec and each run starts its program cold",
    )
    limits: Literal["auto", "rlimit"] = Field(
        default="auto",
        validation_alias="SENTINEL_LIMITS",
        description="`auto`: a delegated cgroup (v1, then v2), else rlimits; `rlimit`: rlimits "
        "and the executor's own poll only, as in a pod, even where a cgroup would be delegated "
        '(tests/test_rlimit_mode.py uses it; docs/security.md, "Limits modes")',
    )

    @field_validator("languages", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            names = tuple(name.strip() for name in value.split(",") if name.strip())
            return None if names in ((), ("all",)) else names
        return value

    @field_validator("limits", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @property
    def jobs_root(self) -> Path:
        """Where each job's directory is made."""
        return self.scratch_dir or self.work_dir

    @property
    def cache_root(self) -> Path:
        """Where the compile cache and precompiled headers live."""
        return self.cache_dir or self.work_dir / "cache"


@functools.cache
def prestart_wanted() -> bool:
    """SENTINEL_PRESTART of this process, read once (every run asks: functions/sandbox.py); a
    benchmark that switches it calls `prestart_wanted.cache_clear()`."""
    return ExecutorSettings.from_env().prestart


def limits_wanted() -> str:
    """SENTINEL_LIMITS of this process: "auto" or "rlimit" (functions/sandbox.py delegation()
    reads it once per process, at the first run)."""
    return ExecutorSettings.from_env().limits
