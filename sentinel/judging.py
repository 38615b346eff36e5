"""Comparison modes of a test case, and where each is judged: on the server or here.

The server compares "trimmed" and "exact" itself. The other modes are judged by the CLI: the
case is sent without `expected`, and the program's `actualOutput` is checked here once the
server says the run itself was clean. When the server grows a checker for a mode, moving the
judging there is one line: set that mode's `server` below to the server's checker name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


def normalised(text: str) -> str:
    """CRLF as LF, leading and trailing whitespace dropped: how GitHub Classroom's autograder
    sees both the output and the expected text before any comparison."""
    return text.replace("\r\n", "\n").strip()


def trimmed_lines(text: str) -> list[str]:
    """The server's "trimmed" view (Judge0's): lines right-stripped, trailing blank lines gone."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _trimmed(actual: str, expected: str) -> bool:
    return trimmed_lines(actual) == trimmed_lines(expected)


def _exact(actual: str, expected: str) -> bool:
    return actual == expected


def _stripped(actual: str, expected: str) -> bool:
    return normalised(actual) == normalised(expected)


def _included(actual: str, expected: str) -> bool:
    return normalised(expected) in normalised(actual)


def _regex(actual: str, expected: str) -> bool:
    return re.search(normalised(expected), normalised(actual)) is not None


@dataclass(frozen=True)
class Mode:
    """A comparison: `server` is the server's compare name when the server judges it (then
    `expected` is sent), None when it is judged here by `judge(actual, expected)`."""

    server: str | None
    judge: Callable[[str, str], bool]
    describe: str


MODES: dict[str, Mode] = {
    "trimmed": Mode("trimmed", _trimmed, "equal, lines right-stripped, trailing blank lines"),
    "exact": Mode("exact", _exact, "byte-for-byte equal"),
    "stripped": Mode(None, _stripped, "equal once both are stripped (GitHub Classroom's exact)"),
    "included": Mode(None, _included, "expected text appears in the output"),
    "regex": Mode(None, _regex, "the regular expression matches somewhere in the output"),
}
DEFAULT_MODE = "trimmed"


def check_pattern(mode: str, expected: str) -> str | None:
    """Why `expected` is unusable under `mode` (a regex that does not compile), else None."""
    if mode != "regex":
        return None
    try:
        re.compile(normalised(expected))
    except re.error as exc:
        return f"invalid regular expression: {exc}"
    return None
