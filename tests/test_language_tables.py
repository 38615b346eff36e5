"""The CLI's, Judge0's and Piston's language tables are read from the registry
(functions/languages.toml); these tests hold them to the hand-written tables they replaced,
dumped before the change into tests/language_tables_before.json.

What differs is listed here, by name, and changes no answer of the API:
- The old tables also described Kotlin, Haskell, R and Swift, which the registry does not have
  (docs/languages.md says why they are left out). Their Judge0 ids (61, 78, 80) and Piston names
  were never listed, since only a language the catalog offers is; a submission naming them was
  refused before and is refused now.
- The CLI guesses the registry languages its old table lacked (Perl, SQLite, Pascal, Fortran)
  from their sources' extensions, knows every registry alias, and counts Pascal and Fortran as
  native builds (their `run` is the executable in /box); it no longer knows "cxx", which the
  server never accepted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventing.contract import REQUESTED
from eventing.triggers import Trigger
from functions.languages import load_registry
from ingress.catalog import LanguageCatalog
from ingress.judge0 import language_ids as judge0
from ingress.piston import runtimes as piston
from sentinel import language_names as cli

BEFORE: dict[str, Any] = json.loads(
    (Path(__file__).with_name("language_tables_before.json")).read_text()
)
REGISTRY = load_registry()
NOT_IN_REGISTRY = {"kotlin", "haskell", "r", "swift"}


def test_the_dropped_entries_are_the_languages_the_registry_does_not_have() -> None:
    old_languages = (
        set(BEFORE["cli"]["extensions"].values())
        | {entry["candidates"][0] for entry in BEFORE["judge0"]}
        | set(BEFORE["piston"]["names"])
    )
    assert old_languages - set(REGISTRY) == NOT_IN_REGISTRY
    assert set(REGISTRY) <= old_languages


def test_judge0_ids_names_and_files_are_the_old_tables() -> None:
    kept = [e for e in BEFORE["judge0"] if e["candidates"][0] in REGISTRY]
    assert [
        {"id": e.id, "name": e.name, "source_file": e.source_file, "language": e.language}
        for e in judge0.TABLE
    ] == [
        {k: v for k, v in e.items() if k != "candidates"} | {"language": e["candidates"][0]}
        for e in kept
    ]
    assert {e["id"] for e in BEFORE["judge0"]} - set(judge0.BY_ID) == {61, 78, 80}


def test_no_two_languages_claim_one_judge0_id() -> None:
    ids = [i for language in REGISTRY.values() if language.judge0 for i in language.judge0.ids]
    assert len(ids) == len(set(ids))


def test_piston_names_aliases_and_compile_stages_are_the_old_tables() -> None:
    for key, old in BEFORE["piston"]["names"].items():
        if key not in REGISTRY:
            continue
        language, runtime, aliases = piston.PISTON_NAMES[key]
        assert (language, runtime) == (old["language"], old["runtime"]), key
        # The registry does not repeat a language's own name among its aliases (the runtime
        # list never showed it there).
        assert list(aliases) == [a for a in old["aliases"] if a != old["language"]], key
    assert set(piston.PISTON_NAMES) == set(REGISTRY)
    assert set(BEFORE["piston"]["compiled"]) - NOT_IN_REGISTRY == piston.COMPILED


@pytest.fixture(scope="module")
def catalog() -> LanguageCatalog:
    """Every registry language routed to an executor that cannot be reached: the catalog then
    knows only the routes, so the lists below are the tables' own (versions unknown)."""
    routes = [
        Trigger(f"execute-{key}", {"type": REQUESTED, "language": key}, "http://127.0.0.1:9")
        for key in REGISTRY
    ]
    return LanguageCatalog(routes, ttl_s=3600)


def test_judge0_and_piston_answer_what_they_answered(catalog: LanguageCatalog) -> None:
    before = BEFORE["answers_without_executors"]
    assert {
        str(judge0_id): {"language": language, **listed}
        for judge0_id, (language, listed) in judge0.offered(catalog).items()
    } == before["judge0_offered"]
    assert [
        runtime.wire()
        | {"sentinel": runtime.sentinel, "compiled": runtime.sentinel in piston.COMPILED}
        for runtime in piston.runtimes(catalog)
    ] == before["piston_runtimes"]
    names = {str(i): judge0.language_name(catalog, i) for i in map(int, before["judge0_names"])}
    dropped = {"61", "78", "80"}  # Haskell, Kotlin, R: never offered, so never stored
    assert {k: v for k, v in names.items() if k not in dropped} == {
        k: v for k, v in before["judge0_names"].items() if k not in dropped
    }
    assert {names[k] for k in dropped} == {""}


def test_the_cli_guesses_what_it_guessed() -> None:
    old = BEFORE["cli"]
    kept = {e: lang for e, lang in old["extensions"].items() if lang in REGISTRY}
    assert {e: cli.EXTENSIONS[e] for e in kept} == kept
    added = {e: lang for e, lang in cli.EXTENSIONS.items() if e not in old["extensions"]}
    assert set(added.values()) == {"perl", "sqlite3", "pascal", "fortran"}
    assert {a: cli.ALIASES.get(a) for a in old["aliases"]} == old["aliases"] | {"cxx": None}
    assert set(old["native"]) | {"pascal", "fortran"} == cli.NATIVE
    assert [cli.guess(f"x{e}") for e in (".kt", ".hs", ".swift")] == [None, None, None]
