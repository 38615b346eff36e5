"""functions.checkers at their edges: whitespace, CRLF, signed zero, NaN, empty output, huge
numbers, and a regex that would backtrack catastrophically."""

from __future__ import annotations

import time

import pytest

from functions.checkers import Tolerance, check


@pytest.mark.parametrize(
    ("mode", "actual", "expected", "passed"),
    [
        ("trimmed", "1 2  \r\n3\r\n\r\n", "1 2\n3", True),
        ("trimmed", "", "", True),
        ("trimmed", "\n", "", True),
        ("trimmed", " 1", "1", False),
        ("exact", "1\n", "1\n", True),
        ("exact", "1\r\n", "1\n", False),
        ("exact", "1", "1\n", False),
        ("tokens", "1   2\n\n3\r\n", "1 2 3", True),
        ("tokens", "", "", True),
        ("tokens", "1 2", "1 2 3", False),
        ("unordered", "b\r\na\nc  \n", "a\nb\nc", True),
        ("unordered", "a\na\nb", "a\nb\nb", False),
        ("contains", "log line\r\nanswer: 42\r\nbye", "answer: 42", True),
        ("contains", "anything", "", True),
        ("contains", "", "x", False),
        ("floats", "0.333333\n", "0.3333333333", True),
        ("floats", "-0.0", "0.0", True),
        ("floats", "-0.000000", "0", True),
        ("floats", "nan", "NaN", True),
        ("floats", "nan", "0", False),
        ("floats", "0", "nan", False),
        ("floats", "inf", "inf", True),
        ("floats", "-inf", "inf", False),
        ("floats", "1e400", "inf", True),
        ("floats", "0.5", "0.6", False),
        ("floats", "abc 1.0000001", "abc 1", True),
        ("floats", "abd 1", "abc 1", False),
        ("floats", "", "", True),
        ("floats", "1 2", "1", False),
        # Integers compare exactly, however large: a float would call these equal.
        ("floats", "123456789012345678901234567890", "123456789012345678901234567891", False),
        ("floats", "123456789012345678901234567890", "123456789012345678901234567890", True),
        ("regex", "Result: 42\r\n", r"Result: \d+", True),
        ("regex", "Result: 42 extra", r"Result: \d+", False),
        ("regex", "", r"", True),
    ],
)
def test_each_checker_at_its_edges(mode: str, actual: str, expected: str, passed: bool) -> None:
    assert check(actual, expected, mode).passed is passed


def test_float_tolerance_is_absolute_or_relative() -> None:
    absolute = Tolerance(absolute=0.01)
    assert check("1.005", "1", "floats", absolute).passed
    assert not check("1.02", "1", "floats", absolute).passed
    relative = Tolerance(relative=0.01)
    assert check("1000005", "1000000.0", "floats", relative).passed  # 5e-6 relative
    assert not check("0.5", "0.4", "floats", relative).passed
    both = Tolerance(absolute=1e-9, relative=1e-3)
    assert check("100.05", "100", "floats", both).passed  # within the relative one only


def test_a_catastrophic_regex_is_stopped_not_hung() -> None:
    started = time.monotonic()
    # Exponential for a backtracking engine (python's `re` would not return in our lifetime).
    result = check("a" * 3000 + "!", r"^(([a-z])+.)+[A-Z]([a-z])+$", "regex")
    assert not result.passed
    assert "regex" in result.note
    assert time.monotonic() - started < 30  # bounded (the timeout is 0.5 s; this cannot hang)


def test_an_invalid_regex_is_a_failed_check_with_a_note() -> None:
    result = check("x", "(unclosed", "regex")
    assert (result.passed, "invalid regex" in result.note) == (False, True)
