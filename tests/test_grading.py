"""Output comparison and the order in which verdicts are decided."""

from __future__ import annotations

import signal

import pytest

from functions.grading import matches, trimmed_lines, verdict
from functions.sandbox import RunLimits, RunOutcome

LIMITS = RunLimits(cpu_ms=1000, wall_ms=2000, memory_kb=65536, output_bytes=1024)


def outcome(**changes: object) -> RunOutcome:
    base: dict[str, object] = {
        "stdout": b"",
        "stderr": b"",
        "exit_code": 0,
        "signal": None,
        "cpu_ms": 10,
        "wall_ms": 20,
        "memory_kb": 1000,
        "wall_timed_out": False,
        "output_exceeded": False,
    }
    base.update(changes)
    return RunOutcome(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("actual", "expected", "same"),
    [
        ("10\n", "10", True),
        ("10   \n\n\n", "10", True),
        ("a\r\nb\r\n", "a\nb", True),
        ("", "", True),
        ("\n\n", "", True),
        (" 10", "10", False),  # leading space matters
        ("1\n\n2", "1\n2", False),  # inner blank lines matter
        ("10", "1", False),
    ],
)
def test_trimmed_comparison_is_judge0s(actual: str, expected: str, same: bool) -> None:
    assert matches(actual, expected) is same


def test_exact_comparison_is_exact() -> None:
    assert matches("10\n", "10\n", "exact")
    assert not matches("10\n", "10", "exact")


def test_trimmed_lines_drops_only_trailing_blank_lines() -> None:
    assert trimmed_lines("\na \n\n") == ["", "a"]


@pytest.mark.parametrize(
    ("changes", "expected_verdict"),
    [
        ({}, "accepted"),
        ({"output_exceeded": True, "wall_timed_out": True}, "output_limit_exceeded"),
        ({"wall_timed_out": True, "signal": signal.SIGKILL}, "time_limit_exceeded"),
        ({"cpu_ms": 1001}, "time_limit_exceeded"),
        ({"signal": signal.SIGXCPU, "exit_code": None}, "time_limit_exceeded"),
        ({"signal": signal.SIGSEGV, "exit_code": None}, "runtime_error"),
        ({"exit_code": 3}, "runtime_error"),
    ],
)
def test_verdict_order(changes: dict[str, object], expected_verdict: str) -> None:
    assert verdict(outcome(**changes), LIMITS, "x", "x") == expected_verdict


def test_wrong_answer_only_when_the_run_was_clean() -> None:
    assert verdict(outcome(), LIMITS, "1", "2") == "wrong_answer"
    assert verdict(outcome(exit_code=1), LIMITS, "1", "2") == "runtime_error"
    assert verdict(outcome(), LIMITS, None, "anything") == "accepted"
