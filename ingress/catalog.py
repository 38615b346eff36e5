"""The language catalog: which languages Sentinel runs, and what their executors say of them.

What runs is decided by routing: a language is offered when a trigger routes its requested
events to an executor. Display names, versions and aliases come from the executors themselves
(GET /languages on each), fetched lazily and cached: which toolchains are installed, and their
versions, only an executor knows (the other names of a language, Judge0's and Piston's, are read
from the registry: ingress/judge0/language_ids.py, ingress/piston/runtimes.py). An executor that
cannot be reached leaves its languages listed with what the triggers know. An executor that
answers but names a language as unavailable (its toolchain is not installed there) has it left
out of the list and refused by name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import requests
import structlog
from pydantic.alias_generators import to_camel

from eventing.contract import ExecutorLimits
from eventing.triggers import Trigger

log = structlog.get_logger(__name__)


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
    def from_report(cls, report: dict[str, Any]) -> ReportedLimits:
        """From the executor's camelCase `limits`; a key it does not report keeps its default."""
        known = {f.name: to_camel(f.name) for f in fields(cls)}
        return cls(**{name: int(report[key]) for name, key in known.items() if key in report})


class LanguageCatalog:
    """Languages by id, with aliases and descriptions cached for `ttl_s` seconds."""

    def __init__(self, triggers: Sequence[Trigger], ttl_s: int) -> None:
        self.routes = {str(t.language): t.subscriber for t in triggers if t.serves()}
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._fetched_at = float("-inf")
        self._described: dict[str, dict[str, Any]] = {}
        self._unavailable: dict[str, dict[str, Any]] = {}
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
        self.describe()
        with self._lock:
            entry = self._unavailable.get(name)
        if entry is None:
            return None
        missing = ", ".join(entry.get("missing", [])) or "its toolchain"
        packages = " ".join(entry.get("packages", []))
        return (
            f"language {name!r} is configured but not installed on its executor "
            f"(missing {missing}; Debian packages: {packages or 'unknown'})"
        )

    def describe(self) -> list[dict[str, Any]]:
        """One entry per offered language: name, displayName, description, example, version."""
        with self._lock:
            if time.monotonic() - self._fetched_at > self._ttl_s:
                self._described, self._unavailable, self._limits = self._fetch()
                self._fetched_at = time.monotonic()
            described = dict(self._described)
            unavailable = set(self._unavailable)
        return [
            described.get(name)
            or {
                "name": name,
                "displayName": name,
                "description": "",
                "example": "",
                "version": "unknown",
                "aliases": [],
            }
            for name in self.names()
            if name not in unavailable
        ]

    def limits(self, language: str | None = None) -> ReportedLimits:
        """The limits of the executor that runs `language` (without one: python's executor, else
        any), as it last reported them; the documented defaults until one has answered."""
        self.describe()
        with self._lock:
            reported = dict(self._limits)
        if language in reported:
            return reported[language]
        return reported.get("python") or next(iter(reported.values()), ReportedLimits())

    def _fetch(
        self,
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, ReportedLimits]]:
        found: dict[str, dict[str, Any]] = {}
        unavailable: dict[str, dict[str, Any]] = {}
        limits: dict[str, ReportedLimits] = {}
        for url in sorted(set(self.routes.values())):
            try:
                response = requests.get(f"{url}/languages", timeout=2)
                response.raise_for_status()
                entries = response.json()["languages"]
            except (requests.RequestException, ValueError, KeyError) as exc:
                log.warning("executor did not describe its languages", url=url, error=str(exc))
                continue
            reported = response.json().get("limits")
            for entry in entries:
                if entry.get("name") in self.routes:
                    found[entry["name"]] = entry
                    if isinstance(reported, dict):
                        limits[entry["name"]] = ReportedLimits.from_report(reported)
            for entry in response.json().get("unavailable", []):
                if entry.get("name") in self.routes and entry["name"] not in found:
                    unavailable[entry["name"]] = entry
        return found, unavailable, limits
