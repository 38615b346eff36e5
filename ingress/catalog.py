"""The language catalog: which languages Sentinel runs, and what their executors say of them.

What runs is decided by routing: a language is offered when a trigger routes its requested
events to an executor. Display names, versions and aliases come from the executors themselves
(GET /languages on each), fetched lazily and cached: which toolchains are installed, and their
versions, only an executor knows (the other names of a language, Judge0's and Piston's, are read
from the registry: ingress/judge0/language_ids.py, ingress/piston/runtimes.py). An executor that
cannot be reached leaves its languages listed with what the triggers know. An executor that
answers but names a language as unavailable (its toolchain is not installed there) has it left
out of the list and refused by name. An executor's answer is read through the models it is
built with (eventing/executor_shapes.py): one that does not fit them (a field missing, a value
of the wrong type) is logged and counts as no answer, so its languages keep what the triggers
know and its limits the documented defaults.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import requests
import structlog
from pydantic import ValidationError

from eventing.contract import ExecutorLimits
from eventing.executor_shapes import (
    LanguageReport,
    LanguagesReport,
    LimitsReport,
    UnavailableLanguage,
)
from eventing.triggers import Trigger

log = structlog.get_logger(__name__)
# Each described language's entry as its executor reported it (LanguageReport's wire dict).
Described = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class ReportedLimits(ExecutorLimits):
    """An executor's default and maximum limits, as it reports them in GET /languages, for the
    compatibility APIs to describe (Judge0's /config_info) and default to (Piston). Until an
    executor has answered, the executor's documented defaults (eventing/contract.py)."""

    def maxima(self) -> dict[str, int]:
        """The highest value the executor applies per field of a submission's `limits`
        (camelCase as on the wire): a request above one is refused at the edge, not clamped."""
        return {
            "cpuTimeMs": self.max_cpu_ms,
            "wallTimeMs": self.max_wall_ms,
            "memoryMb": self.max_memory_mb,
            "outputKb": self.max_output_kb,
            "processes": self.max_processes,
            "fileSizeKb": self.max_file_size_kb,
            "stackKb": self.max_stack_kb,
            "compileCpuTimeMs": self.compile_cpu_ms,
            "compileWallTimeMs": self.compile_wall_ms,
            "compileMemoryMb": self.compile_memory_mb,
        }

    @classmethod
    def from_report(cls, report: LimitsReport) -> ReportedLimits:
        """From the executor's validated `limits`; the fields it does not report (the default
        output, file size and stack) keep their documented defaults."""
        reported = report.model_dump()
        return cls(**{f.name: reported[f.name] for f in fields(cls) if f.name in reported})


class LanguageCatalog:
    """Languages by id, with aliases and descriptions cached for `ttl_s` seconds."""

    def __init__(self, triggers: Sequence[Trigger], ttl_s: int) -> None:
        self.routes = {str(t.language): t.subscriber for t in triggers if t.serves()}
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._fetched_at = float("-inf")
        self._described: dict[str, dict[str, Any]] = {}
        self._unavailable: dict[str, UnavailableLanguage] = {}
        self._limits: dict[str, ReportedLimits] = {}

    def names(self) -> list[str]:
        """Ids of the languages that have an executor route."""
        return sorted(self.routes)

    def resolve(self, name: str) -> str | None:
        """The language id for `name` (an id or an alias, any case); None when not offered."""
        wanted = name.strip().lower()
        if wanted in self.routes:
            return wanted
        for entry in self.describe():
            if wanted in entry.get("aliases", []):
                return str(entry["name"])
        return None

    def unavailable(self, name: str) -> str | None:
        """Why a routed language cannot run (its executor lacks the toolchain), or None."""
        with self._lock:
            self._refresh()
            entry = self._unavailable.get(name)
        if entry is None:
            return None
        missing = ", ".join(entry.missing) or "its toolchain"
        packages = " ".join(entry.packages)
        return (
            f"language {name!r} is configured but not installed on its executor "
            f"(missing {missing}; Debian packages: {packages or 'unknown'})"
        )

    def describe(self) -> list[dict[str, Any]]:
        """One entry per offered language: name, displayName, description, example, version."""
        with self._lock:
            self._refresh()
            described = dict(self._described)
            unavailable = set(self._unavailable)
        return [
            described.get(name) or _unreported(name)
            for name in self.names()
            if name not in unavailable
        ]

    def limits(self, language: str | None = None) -> ReportedLimits:
        """The limits of the executor that runs `language` (without one: python's executor, else
        any), as it last reported them; the documented defaults until one has answered."""
        with self._lock:
            self._refresh()
            reported = dict(self._limits)
        if language in reported:
            return reported[language]
        return reported.get("python") or next(iter(reported.values()), ReportedLimits())

    def _refresh(self) -> None:
        """Ask the executors again once the cache is `ttl_s` old (the caller holds the lock).

        Apart from describe() so that unavailable() and limits(), asked on every submission,
        do not build the whole list of entries (a model per unreported language) to drop it."""
        if time.monotonic() - self._fetched_at > self._ttl_s:
            self._described, self._unavailable, self._limits = self._fetch()
            self._fetched_at = time.monotonic()

    def _fetch(self) -> tuple[Described, dict[str, UnavailableLanguage], dict[str, ReportedLimits]]:
        found: dict[str, dict[str, Any]] = {}
        unavailable: dict[str, UnavailableLanguage] = {}
        limits: dict[str, ReportedLimits] = {}
        for url in sorted(set(self.routes.values())):
            report = _ask(url)
            if report is None:
                continue
            reported = ReportedLimits.from_report(report.limits)
            for entry in report.languages:
                if entry.name in self.routes:
                    found[entry.name] = entry.wire()  # a dict once, not per describe()
                    limits[entry.name] = reported
            for missing in report.unavailable:
                if missing.name in self.routes and missing.name not in found:
                    unavailable[missing.name] = missing
        return found, unavailable, limits


def _ask(url: str) -> LanguagesReport | None:
    """The executor's GET /languages at `url`, validated; None (and a log line) when it cannot
    be reached or its answer does not fit the model."""
    try:
        response = requests.get(f"{url}/languages", timeout=2)
        response.raise_for_status()
        return LanguagesReport.model_validate_json(response.content)
    except requests.RequestException as exc:
        log.warning("executor did not describe its languages", url=url, error=str(exc))
    except ValidationError as exc:
        log.warning(
            "executor's languages report does not fit its model; keeping the defaults",
            url=url,
            errors=exc.errors(include_url=False, include_context=False, include_input=False),
        )
    return None


def _unreported(name: str) -> dict[str, Any]:
    """A routed language no executor has described (yet): its id, version unknown."""
    return LanguageReport(
        name=name, display_name=name, description="", example="", version="unknown", aliases=[]
    ).wire()
