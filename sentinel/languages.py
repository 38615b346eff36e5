"""Language ids as the CLI knows them: guessed from a file's extension, and canonical names.

The server is the authority on what it runs (it answers 400 with the supported list); this
table only saves the user from typing `--language` and lets the CLI tell that a GitHub Classroom
`run` command ("node index.js") belongs to the language being submitted.
"""

from __future__ import annotations

from pathlib import PurePath

EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".java": "java",
    ".cpp": "cpp",
    ".cc": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".c": "c",
    ".go": "go",
    ".rs": "rust",
    ".rb": "ruby",
    ".kt": "kotlin",
    ".cs": "csharp",
    ".php": "php",
    ".swift": "swift",
    ".sh": "bash",
    ".lua": "lua",
    ".hs": "haskell",
}

# Other names users (and classroom commands) give the same languages.
ALIASES: dict[str, str] = {
    "py": "python",
    "python3": "python",
    "js": "javascript",
    "node": "javascript",
    "nodejs": "javascript",
    "c++": "cpp",
    "cxx": "cpp",
    "golang": "go",
    "rs": "rust",
    "rb": "ruby",
}

# Languages whose program is a native executable (`./a.out`, `./main`) after a build step.
NATIVE = frozenset({"c", "cpp", "rust", "go"})


def guess(path: str | PurePath) -> str | None:
    """The language id for a source file's extension; None when the extension is unknown."""
    return EXTENSIONS.get(PurePath(path).suffix.lower())


def canonical(name: str) -> str:
    """The id for `name` when it is a known alias, else `name` lower-cased (the server decides)."""
    wanted = name.strip().lower()
    return ALIASES.get(wanted, wanted)
