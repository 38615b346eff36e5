"""Judging: compare output with the expected answer and name the verdict of a run.

The order of the checks is the order of what the user should hear first: a run that blew a
limit did not finish, so its output is not compared; a crash is a runtime error even when the
partial output happens to match.
"""

from __future__ import annotations

from collections.abc import Sequence

from functions import checkers
from functions.sandbox import RunLimits, RunOutcome

trimmed_lines = checkers.lines


def matches(
    actual: str, expected: str, mode: str = "trimmed", tolerance: checkers.Tolerance | None = None
) -> bool:
    """True when `actual` is an accepted answer for `expected` under `mode` (functions.checkers)."""
    return checkers.check(actual, expected, mode, tolerance).passed


def verdict(
    outcome: RunOutcome,
    limits: RunLimits,
    expected: str | None,
    actual: str,
    mode: str = "trimmed",
    out_of_memory: Sequence[str] = (),
    tolerance: checkers.Tolerance | None = None,
) -> str:
    """The verdict of one run; `expected` None means there is nothing to compare against.

    Out of memory is the kernel's OOM kill in the run's cgroup, or a runtime that said so on
    stderr and failed (Java's OutOfMemoryError at -Xmx, V8's heap limit, MemoryError under
    RLIMIT_AS): for the user it is the same limit, whichever layer noticed first.
    """
    if outcome.output_exceeded:
        return "output_limit_exceeded"
    if outcome.wall_timed_out or outcome.cpu_ms > limits.cpu_ms or outcome.signal_name == "SIGXCPU":
        return "time_limit_exceeded"
    failed = outcome.signal is not None or outcome.exit_code != 0
    if outcome.memory_exceeded or (failed and _said_out_of_memory(outcome, out_of_memory)):
        return "memory_limit_exceeded"
    if failed:
        return "runtime_error"
    if expected is None or matches(actual, expected, mode, tolerance):
        return "accepted"
    return "wrong_answer"


def limit_exceeded(outcome: RunOutcome, verdict: str) -> str | None:
    """Which limit ended the run, agreeing with its verdict: the limit a *_limit_exceeded verdict
    names (CPU or wall time for time_limit_exceeded, as the sandbox saw it), or "processes" for a
    run that failed at its process limit (seen in rlimit mode only, functions/sandbox.py)."""
    if verdict == "output_limit_exceeded":
        return "output"
    if verdict == "memory_limit_exceeded":
        return "memory"
    if verdict == "time_limit_exceeded":
        return "wall_time" if outcome.wall_timed_out else "cpu_time"
    if verdict == "runtime_error" and outcome.ended_by == "processes":
        return "processes"
    return None


def _said_out_of_memory(outcome: RunOutcome, texts: Sequence[str]) -> bool:
    stderr = outcome.stderr.decode("utf-8", errors="replace")
    return any(text in stderr for text in texts)
