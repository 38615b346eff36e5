"""Judge0 1.13.1's language ids, for the languages Sentinel serves.

The ids are Judge0's (clients hard-code them: 71 is Python, 54 C++), written in each language's
registry entry (`judge0` in functions/languages.toml) and read from there at import. Only ids
whose language the catalog offers are listed, so the list grows as executors gain languages.
Where Judge0 has several ids for one language (C++ 52, 53 and 54: GCC 7.4, 8.3 and 9.2) each is
kept, since clients and the official SDK pick different ones (the SDK's LanguageAlias.CPP is 52),
and all run on Sentinel's one toolchain. Names are Judge0's with Sentinel's real version, e.g.
"C++ (GCC 12.2.0)": a client sees what actually runs its code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from functions.languages import Language, load_registry
from ingress.catalog import LanguageCatalog


@dataclass(frozen=True)
class Judge0Language:
    """One Judge0 id: its name pattern, Judge0's file name, and Sentinel's language id."""

    id: int
    name: str  # with {version}
    source_file: str
    language: str


def table(registry: Mapping[str, Language]) -> tuple[Judge0Language, ...]:
    """Every Judge0 id the registry gives a language, in Judge0's order (by id)."""
    entries = [
        Judge0Language(judge0_id, language.judge0.name, language.judge0.source_file, key)
        for key, language in registry.items()
        if language.judge0 is not None
        for judge0_id in language.judge0.ids
    ]
    return tuple(sorted(entries, key=lambda entry: entry.id))


TABLE = table(load_registry())
BY_ID = {entry.id: entry for entry in TABLE}

_SEMVER = re.compile(r"\d+(?:\.\d+)+")


def short_version(version: str) -> str:
    """The first dotted number of an executor's version line ("g++ (Debian 12.2.0-14) 12.2.0"
    -> "12.2.0"); the line itself when it has none."""
    found = _SEMVER.search(version)
    return found.group(0) if found else version


def offered(catalog: LanguageCatalog) -> dict[int, tuple[str, dict[str, Any]]]:
    """Judge0 id -> (Sentinel language id, Judge0's language object {id, name}) for every id
    whose language the catalog offers."""
    described = {entry["name"]: entry for entry in catalog.describe()}
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    for entry in TABLE:
        language = catalog.resolve(entry.language)
        if language is None:
            continue
        version = short_version(str(described.get(language, {}).get("version", "")))
        found[entry.id] = (
            language,
            {"id": entry.id, "name": entry.name.format(version=version)},
        )
    return found


def language_name(catalog: LanguageCatalog, language_id: int) -> str:
    """The listed name of a Judge0 id (what submissions echo as `language.name`)."""
    entry = offered(catalog).get(language_id)
    if entry is not None:
        return str(entry[1]["name"])
    known = BY_ID.get(language_id)
    return known.name.format(version="").replace(" ()", "").replace("  ", " ") if known else ""
