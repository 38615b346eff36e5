"""Docstrings and comments cite only what a reader of the repository can open.

A pointer outside the repository (a sibling checkout's notes, a tracker's issue number) means
nothing to someone who cloned it: the comment should say the fact itself, or name a file of the
repository that does. This scans every docstring and comment of the Python packages, the
benchmarks and the tests.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ingress", "eventing", "functions", "sentinel", "benchmarks", "tests")
# Spelled in pieces so that this file's own text does not match.
OUTSIDE = re.compile(
    "|".join(
        [
            r"\.\./" + "shared",  # the sibling directory beside the clone
            r"\b(?:FACTS|DESIGN|STYLE)" + r"\.md\b",  # notes kept outside the repository
            r"\b[Ii]ssue" + r"s? #?\d+",  # a tracker's number
        ]
    )
)
# A file named in a docstring or comment (docs/api.md, functions/languages.toml) must exist.
CITED_FILE = re.compile(r"(?<![\w./-])((?:[\w-]+/)+[\w.-]+\.(?:md|py|toml|yaml|json|sh))\b")


def _texts(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and docstring of one file."""
    source = path.read_text(encoding="utf-8")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                value = body[0].value.value
                if isinstance(value, str):
                    yield body[0].lineno, value


def _files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py"))


def test_nothing_cites_notes_outside_the_repository_or_an_issue_number() -> None:
    found = [
        f"{path.relative_to(REPO)}:{line}: {match.group(0)!r}"
        for path in _files()
        for line, text in _texts(path)
        for match in OUTSIDE.finditer(text)
    ]
    assert not found, "say the fact itself instead:\n" + "\n".join(found)


def test_every_cited_file_of_the_repository_exists() -> None:
    missing = [
        f"{path.relative_to(REPO)}:{line}: {name}"
        for path in _files()
        for line, text in _texts(path)
        for name in CITED_FILE.findall(text)
        # DATA_DIR/logs/...: a placeholder for a directory chosen at run time, not a file here
        if not (REPO / name).exists() and not name.split("/")[0].isupper()
    ]
    assert not missing, "\n".join(missing)


def test_the_scan_sees_what_it_must_refuse(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    outside = "../" + "shared/" + "FACTS" + ".md"
    sample.write_text(
        f'"""Measured here ({outside})."""\n\n'
        "def f() -> None:\n"
        f'    """As {"is" + "sue"} 9 asked."""\n'
        "    x = 1  # see docs/nothing-here.md\n"
    )
    texts = list(_texts(sample))
    assert len([m for _, t in texts for m in OUTSIDE.finditer(t)]) == 3
    assert [n for _, t in texts for n in CITED_FILE.findall(t)] == ["docs/nothing-here.md"]
