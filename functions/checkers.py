"""Output checkers: is a program's output an accepted answer for the expected one?

One function per `compare` mode of the contract. Every checker first normalises line endings
(CRLF and lone CR as LF), so a Windows-edited expected answer never fails a correct program; only
`exact` compares the bytes as they are.

Decisions (docs/languages.md says the same):
- trimmed (default, Judge0's): each line right-stripped, trailing blank lines ignored.
- tokens: the whitespace-separated words must be equal, whitespace itself is free.
- floats: tokens; where both tokens are numbers they pass within the absolute OR the relative
  tolerance (default 1e-6 each when neither is given). Both integers (no '.', no exponent):
  compared exactly, however large, since a float would round them. NaN matches NaN (the
  expected answer says "not a number" and the program said it); -0.0 equals 0.0 (IEEE says so,
  and printing "-0.000" for a tiny negative is not a wrong answer); inf matches inf of the same
  sign. Other tokens compare exactly.
- unordered: the trimmed lines as a multiset.
- contains: the trimmed expected text occurs in the output (an empty expected always does).
- regex: the expected text is a pattern that must match the whole trimmed output. The pattern
  is the submitter's and runs in the executor process, so it runs on the `regex` module with a
  timeout (REGEX_TIMEOUT_S): catastrophic backtracking ends as a failed check, not a hung worker.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import regex

REGEX_TIMEOUT_S = 0.5
DEFAULT_TOLERANCE = 1e-6
_NUMBER = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE
)
_INTEGER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Check:
    """A checker's answer: whether the output passes, and why not when the checker itself
    could not decide (a bad or runaway regex)."""

    passed: bool
    note: str = ""


@dataclass(frozen=True)
class Tolerance:
    """The `floats` checker's tolerances; None for both means DEFAULT_TOLERANCE for both."""

    absolute: float | None = None
    relative: float | None = None

    def bounds(self) -> tuple[float, float]:
        """(absolute, relative), with the default filled in."""
        if self.absolute is None and self.relative is None:
            return DEFAULT_TOLERANCE, DEFAULT_TOLERANCE
        return self.absolute or 0.0, self.relative or 0.0


def check(actual: str, expected: str, mode: str, tolerance: Tolerance | None = None) -> Check:
    """Judge `actual` against `expected` under the `compare` mode `mode`."""
    if mode == "floats":
        return Check(floats(actual, expected, tolerance or Tolerance()))
    if mode == "regex":
        return pattern(actual, expected)
    checker = _CHECKERS.get(mode)
    if checker is None:
        raise ValueError(f"unknown compare mode {mode!r}")
    return Check(checker(actual, expected))


def lines(text: str) -> list[str]:
    """CRLF and CR as LF, each line right-stripped, trailing blank lines dropped."""
    found = [line.rstrip() for line in _lf(text).split("\n")]
    while found and not found[-1]:
        found.pop()
    return found


def trimmed(actual: str, expected: str) -> bool:
    """Judge0's default: lines equal once right-stripped, trailing blank lines ignored."""
    return lines(actual) == lines(expected)


def exact(actual: str, expected: str) -> bool:
    """Byte for byte (as text): a missing final newline or a CR is a difference."""
    return actual == expected


def tokens(actual: str, expected: str) -> bool:
    """The same words in the same order; how they are spaced or broken into lines is free."""
    return actual.split() == expected.split()


def unordered(actual: str, expected: str) -> bool:
    """The same trimmed lines, in any order (duplicates count)."""
    return sorted(lines(actual)) == sorted(lines(expected))


def contains(actual: str, expected: str) -> bool:
    """The expected text (trimmed) appears somewhere in the output (CRLF as LF)."""
    return "\n".join(lines(expected)) in _lf(actual)


def floats(actual: str, expected: str, tolerance: Tolerance) -> bool:
    """Tokens, numbers within tolerance (see the module's docstring for the edge cases)."""
    got, want = actual.split(), expected.split()
    if len(got) != len(want):
        return False
    absolute, relative = tolerance.bounds()
    return all(_close(a, e, absolute, relative) for a, e in zip(got, want, strict=True))


def pattern(actual: str, expected: str) -> Check:
    """The expected text as a regex over the whole trimmed output, bounded in time."""
    text = "\n".join(lines(actual))
    try:
        found = regex.fullmatch(expected, text, timeout=REGEX_TIMEOUT_S)
    except regex.error as exc:
        return Check(False, f"checker: invalid regex: {exc}")
    except TimeoutError:
        return Check(False, f"checker: regex took longer than {REGEX_TIMEOUT_S} s")
    return Check(found is not None)


def _close(actual: str, expected: str, absolute: float, relative: float) -> bool:
    if actual == expected:
        return True
    if not (_NUMBER.fullmatch(actual) and _NUMBER.fullmatch(expected)):
        return False
    if _INTEGER.fullmatch(actual) and _INTEGER.fullmatch(expected):
        return int(actual) == int(expected)
    a, e = float(actual), float(expected)
    if math.isnan(a) or math.isnan(e):
        return math.isnan(a) and math.isnan(e)
    if math.isinf(a) or math.isinf(e):
        return a == e
    difference = abs(a - e)
    return difference <= absolute or difference <= relative * abs(e)


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_CHECKERS: dict[str, Callable[[str, str], bool]] = {
    "trimmed": trimmed,
    "exact": exact,
    "tokens": tokens,
    "unordered": unordered,
    "contains": contains,
}
