"""Judge0 1.13.1's language ids, for the languages Sentinel serves.

The ids are Judge0's (clients hard-code them: 71 is Python, 54 C++). Only ids whose language the
catalog offers are listed, so the list grows as executors gain languages. Where Judge0 has several
ids for one language (C++ 52, 53 and 54: GCC 7.4, 8.3 and 9.2) each is kept, since clients and
the official SDK pick different ones (the SDK's LanguageAlias.CPP is 52), and all run on
Sentinel's one toolchain. Names are Judge0's with Sentinel's real version, e.g.
"C++ (GCC 12.2.0)": a client sees what actually runs its code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ingress.catalog import LanguageCatalog


@dataclass(frozen=True)
class Judge0Language:
    """One Judge0 id: its name pattern, Judge0's file name, and Sentinel's language ids."""

    id: int
    name: str  # with {version}
    source_file: str
    candidates: tuple[str, ...]  # Sentinel ids or aliases, the first the catalog offers wins


TABLE: tuple[Judge0Language, ...] = (
    Judge0Language(46, "Bash ({version})", "script.sh", ("bash",)),
    Judge0Language(48, "C (GCC {version})", "main.c", ("c",)),
    Judge0Language(49, "C (GCC {version})", "main.c", ("c",)),
    Judge0Language(50, "C (GCC {version})", "main.c", ("c",)),
    Judge0Language(51, "C# (Mono {version})", "Main.cs", ("csharp", "cs", "mono")),
    Judge0Language(52, "C++ (GCC {version})", "main.cpp", ("cpp",)),
    Judge0Language(53, "C++ (GCC {version})", "main.cpp", ("cpp",)),
    Judge0Language(54, "C++ (GCC {version})", "main.cpp", ("cpp",)),
    Judge0Language(59, "Fortran (GFortran {version})", "main.f90", ("fortran",)),
    Judge0Language(60, "Go ({version})", "main.go", ("go",)),
    Judge0Language(61, "Haskell (GHC {version})", "main.hs", ("haskell",)),
    Judge0Language(62, "Java (OpenJDK {version})", "Main.java", ("java",)),
    Judge0Language(63, "JavaScript (Node.js {version})", "script.js", ("javascript",)),
    Judge0Language(64, "Lua ({version})", "script.lua", ("lua",)),
    Judge0Language(67, "Pascal (FPC {version})", "main.pas", ("pascal",)),
    Judge0Language(68, "PHP ({version})", "script.php", ("php",)),
    Judge0Language(71, "Python ({version})", "script.py", ("python",)),
    Judge0Language(72, "Ruby ({version})", "script.rb", ("ruby",)),
    Judge0Language(73, "Rust ({version})", "main.rs", ("rust",)),
    Judge0Language(74, "TypeScript ({version})", "script.ts", ("typescript",)),
    Judge0Language(78, "Kotlin ({version})", "Main.kt", ("kotlin",)),
    Judge0Language(80, "R ({version})", "script.r", ("r",)),
    Judge0Language(82, "SQL (SQLite {version})", "script.sql", ("sqlite3", "sqlite", "sql")),
    Judge0Language(85, "Perl ({version})", "script.pl", ("perl",)),
)
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
        language = next(
            (resolved for c in entry.candidates if (resolved := catalog.resolve(c))), None
        )
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
