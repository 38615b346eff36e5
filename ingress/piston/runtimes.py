"""Piston's names for Sentinel's languages, and which of them have a compile stage.

Piston calls C++ "c++", and names a `runtime` when one language has several (javascript on
node): each language's registry entry says so (`piston` in functions/languages.toml), read from
there at import. A Piston client sends Piston's names or aliases; Sentinel's own ids and aliases
are accepted too (they are listed as aliases). `compile` appears in a response for the languages
Sentinel builds into an artifact (the registry's `builds`: C, C++, Java, Go, Rust, ...); the
syntax checks Sentinel runs for Python and JavaScript are not a stage in Piston, so their errors
show in `run`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import semantic_version

from functions.languages import Language, PistonNames, load_registry
from ingress.catalog import LanguageCatalog
from ingress.piston.shapes import PistonRuntime


def piston_names(
    registry: Mapping[str, Language],
) -> dict[str, tuple[str, str | None, tuple[str, ...]]]:
    """Sentinel id -> (Piston language, runtime or None, Piston's aliases)."""
    found = {}
    for key, language in registry.items():
        names = language.piston or PistonNames(key)
        found[key] = (names.language, names.runtime, names.aliases)
    return found


def compiled(registry: Mapping[str, Language]) -> frozenset[str]:
    """The languages whose Piston answer has a compile stage (the registry's `builds`)."""
    return frozenset(key for key, language in registry.items() if language.builds)


_REGISTRY = load_registry()
PISTON_NAMES = piston_names(_REGISTRY)
COMPILED = compiled(_REGISTRY)
_SEMVER = re.compile(r"\d+(?:\.\d+)*")


@dataclass(frozen=True)
class Runtime:
    """One entry of GET /api/v2/runtimes, and the Sentinel language behind it."""

    sentinel: str
    language: str
    version: str
    aliases: tuple[str, ...]
    runtime: str | None

    def wire(self) -> dict[str, Any]:
        """Piston's shape (ingress/piston/shapes.py): runtime only when there is one."""
        return PistonRuntime(
            language=self.language,
            version=self.version,
            aliases=list(self.aliases),
            runtime=self.runtime,
        ).wire()


def semver(version: str) -> str:
    """A three-part version from an executor's version line ("Python 3.11.2" -> "3.11.2",
    "go1.19.8" -> "1.19.8", "17" -> "17.0.0")."""
    found = _SEMVER.search(version)
    parts = (found.group(0) if found else "0").split(".")[:3]
    return ".".join(parts + ["0"] * (3 - len(parts)))


def runtimes(catalog: LanguageCatalog) -> list[Runtime]:
    """Every language the catalog offers, with Piston's name when Piston has one."""
    found = []
    for entry in catalog.describe():
        sentinel = str(entry["name"])
        language, runtime, aliases = PISTON_NAMES.get(sentinel, (sentinel, None, ()))
        names = [*aliases, *([sentinel] if sentinel != language else []), *entry.get("aliases", [])]
        unique = tuple(dict.fromkeys(a for a in names if a != language))
        found.append(
            Runtime(sentinel, language, semver(str(entry.get("version", ""))), unique, runtime)
        )
    return found


def matches(selector: str, version: str) -> bool:
    """Piston's version selector, read as npm reads a range (Piston's own is node-semver's
    `satisfies`): "*", "x", "3", "3.11.x", an exact version, ^ and ~ ranges, comparators.
    "" and "latest" take any version; a selector npm would refuse matches nothing."""
    selector = selector.strip()
    if selector in ("", "latest"):
        return True
    try:
        return bool(semantic_version.NpmSpec(selector).match(semantic_version.Version(version)))
    except ValueError:
        return False


def find(catalog: LanguageCatalog, language: str, selector: str) -> Runtime | None:
    """The runtime a request names (Piston name, alias or Sentinel id, any case) if its
    version matches the selector."""
    wanted = language.strip().lower()
    for runtime in runtimes(catalog):
        names = {runtime.language, runtime.sentinel, *runtime.aliases}
        if wanted in names and matches(selector, runtime.version):
            return runtime
    return None
