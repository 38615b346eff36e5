"""Language ids as the CLI knows them: guessed from a file's extension, and canonical names.

The server is the authority on what it runs (it answers 400 with the supported list); these
tables only save the user from typing `--language` and let the CLI tell that a GitHub Classroom
`run` command ("node index.js") belongs to the language being submitted. They are read from the
language registry (functions/languages.toml), so a language added there is known here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath

from functions.languages import Language, load_registry


def extensions(registry: Mapping[str, Language]) -> dict[str, str]:
    """A source file's extension -> its language (each entry's `extensions`)."""
    return {ext: language.id for language in registry.values() for ext in language.extensions}


def aliases(registry: Mapping[str, Language]) -> dict[str, str]:
    """Other names users (and classroom commands) give the languages: the registry's aliases."""
    return {alias: language.id for language in registry.values() for alias in language.aliases}


def native(registry: Mapping[str, Language]) -> frozenset[str]:
    """Languages whose program is a native executable (`./a.out`, `./main`) after a build."""
    return frozenset(language.id for language in registry.values() if language.native)


_REGISTRY = load_registry()
EXTENSIONS = extensions(_REGISTRY)
ALIASES = aliases(_REGISTRY)
NATIVE = native(_REGISTRY)


def guess(path: str | PurePath) -> str | None:
    """The language id for a source file's extension; None when the extension is unknown."""
    return EXTENSIONS.get(PurePath(path).suffix.lower())


def canonical(name: str) -> str:
    """The id for `name` when it is a known alias, else `name` lower-cased (the server decides)."""
    wanted = name.strip().lower()
    return ALIASES.get(wanted, wanted)
