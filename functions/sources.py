"""Write a submission's source files into a box, and name the entry point and the sources.

Single-file mode: `code` is the entry point, written as the language's source file (Java: named
after its public class). Multi-file mode: `files` are written under their own relative names;
without `code` the first of them is the entry point and keeps its name (Java's again follows its
public class). The compile command's {sources} is the entry point, then every other file whose
suffix the registry lists for the language (sorted, so the same files give the same command).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from eventing.contract import SourceFile, Submission
from functions.languages import Language


@dataclass(frozen=True)
class Sources:
    """What was written: the entry file's name and the files the compiler is given."""

    entry: str
    compiled: tuple[str, ...]


def write(submission: Submission, language: Language, box: Path) -> Sources:
    """Write the entry point, the other files and the language's support files into `box`."""
    files = list(submission.files or [])
    if submission.code is not None:
        entry_text, default = submission.code, None
    else:
        first = files.pop(0)
        entry_text, default = decoded(first), first.name
    entry = language.source_name(entry_text, default)
    others = []
    for extra in files:
        if extra.name == entry:
            continue  # the entry point wins over a file of the same name
        path = box / extra.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_raw(extra))
        others.append(extra.name)
    entry_path = box / entry
    entry_path.parent.mkdir(parents=True, exist_ok=True)
    entry_path.write_text(entry_text)
    for name, text in language.support_files.items():
        (box / name).write_text(text)
    suffixes = tuple(language.source_suffixes)
    compiled = [name for name in sorted(others) if suffixes and name.endswith(suffixes)]
    return Sources(entry=entry, compiled=(entry, *compiled))


def decoded(source: SourceFile) -> str:
    """A source file's text (base64 content decoded; bytes that are not UTF-8 replaced)."""
    if source.encoding == "base64":
        return base64.b64decode(source.content).decode("utf-8", errors="replace")
    return source.content


def _raw(source: SourceFile) -> bytes:
    if source.encoding == "base64":
        return base64.b64decode(source.content)
    return source.content.encode()
