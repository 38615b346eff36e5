"""The executor's reports: the bodies of its GET /languages, GET /health and its error answers.

functions/app.py builds these answers through the models below and the ingress reads them back
through the same models (ingress/catalog.py for /languages, ingress/health.py for /health), so
the two sides of that hop cannot drift apart, as eventing/contract.py holds the events. The
module sits beside the contract because the import contracts in pyproject.toml let the executor
import of eventing/ nothing that touches Redis, and let the ingress import of functions/ only
the language registry: pydantic is all it needs.

Field names are camelCase on the wire, exactly as the executor has always answered (the tests in
tests/test_runtime_contract.py and tests/test_languages.py read them). Unlike the contract's
payloads, a report's unknown fields are ignored rather than refused: an executor of a later
version may add one beside them, and an ingress that has not been rolled yet must still read
the rest. A report that lacks a field or holds one of the wrong type is refused whole
(ValidationError); the ingress then logs it and keeps its documented defaults.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Report(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields ignored, never refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict, camelCase, every field present (an unset `reason` is null, as
        the executor has always sent it)."""
        return self.model_dump(by_alias=True)


class LanguageReport(Report):
    """One language the executor serves, as its registry entry and toolchain describe it
    (functions/languages.toml): the ingress lists these in its own GET /languages."""

    name: str = Field(min_length=1)
    display_name: str
    description: str
    example: str
    version: str
    aliases: list[str]


class UnavailableLanguage(Report):
    """A language configured for this executor whose toolchain is not installed here: what is
    missing and the Debian packages that provide it, so the ingress refuses it by name."""

    name: str = Field(min_length=1)
    missing: list[str]
    packages: list[str]


class LimitsReport(Report):
    """The default and maximum limits the executor applies (functions/settings.py; their
    documented values are eventing/contract.py's ExecutorLimits). Judge0's /config_info
    describes them and Piston defaults to them (ingress/catalog.py's ReportedLimits)."""

    default_cpu_ms: int = Field(ge=0)
    default_wall_ms: int = Field(ge=0)
    default_memory_mb: int = Field(ge=0)
    default_processes: int = Field(ge=0)
    max_cpu_ms: int = Field(ge=0)
    max_wall_ms: int = Field(ge=0)
    max_memory_mb: int = Field(ge=0)
    max_output_kb: int = Field(ge=0)
    max_processes: int = Field(ge=0)
    max_file_size_kb: int = Field(ge=0)
    max_stack_kb: int = Field(ge=0)
    compile_cpu_ms: int = Field(ge=0)
    compile_wall_ms: int = Field(ge=0)
    compile_memory_mb: int = Field(ge=0)


class LanguagesReport(Report):
    """GET /languages of an executor: what it runs, what it would run but cannot, its limits."""

    languages: list[LanguageReport]
    unavailable: list[UnavailableLanguage]
    limits: LimitsReport


class CompileCacheStats(Report):
    """The compile cache's counters since the executor started (functions/compile_cache.py)."""

    hits: int = Field(ge=0)
    misses: int = Field(ge=0)
    stores: int = Field(ge=0)
    evictions: int = Field(ge=0)
    max_bytes: int = Field(ge=0)


class HealthReport(Report):
    """GET /health of an executor: 200 with status "ok" when its sandbox can start, else 503
    with status "unavailable" and the reason (functions/readiness.py)."""

    status: Literal["ok", "unavailable"]
    reason: str | None
    executor: str
    languages: list[str]
    # How memory and processes are limited: "cgroup-v1", "cgroup-v2" or "rlimit"
    # (functions/sandbox.py), and the sandbox's /proc: "private" or "static" (functions/procfs.py).
    limits: str
    proc: str
    compile_cache: CompileCacheStats
    # Who the executor and its sandboxes are on the host (never root for sandboxes).
    user: int
    sandbox_user: int
    spares: int = Field(ge=0)
    # Precompiled headers being built right now (at a first start: C++ compiles run without
    # them, 2 s instead of 0.3 s with bits/stdc++.h, until they are ready).
    headers_building: int = Field(default=0, ge=0)


class ErrorReport(Report):
    """The body of every error the executor answers (400: not a valid requested event, or a
    language not served here; 503: its sandbox cannot start, with Retry-After)."""

    error: str
