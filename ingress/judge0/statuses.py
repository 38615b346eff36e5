"""Judge0's 14 statuses, and how a Sentinel job maps onto them.

Judge0 has no status for a memory or output limit: a memory_limit_exceeded job is
"Runtime Error (Other)" (12) with the message "Memory limit exceeded" (a cgroup OOM kill is
neither a known signal nor an exit code in Judge0's terms), and output_limit_exceeded is
"Runtime Error (SIGXFSZ)" (8), what Judge0 itself reports when a program's output passes
max_file_size. The table is in docs/migrating.md.
"""

from __future__ import annotations

import signal as signals
from typing import Any

IN_QUEUE, PROCESSING, ACCEPTED, WRONG_ANSWER, TIME_LIMIT, COMPILATION_ERROR = 1, 2, 3, 4, 5, 6
SIGSEGV, SIGXFSZ, SIGFPE, SIGABRT, NZEC, OTHER, INTERNAL_ERROR = 7, 8, 9, 10, 11, 12, 13

STATUSES: dict[int, str] = {
    1: "In Queue",
    2: "Processing",
    3: "Accepted",
    4: "Wrong Answer",
    5: "Time Limit Exceeded",
    6: "Compilation Error",
    7: "Runtime Error (SIGSEGV)",
    8: "Runtime Error (SIGXFSZ)",
    9: "Runtime Error (SIGFPE)",
    10: "Runtime Error (SIGABRT)",
    11: "Runtime Error (NZEC)",
    12: "Runtime Error (Other)",
    13: "Internal Error",
    14: "Exec Format Error",
}

_BY_SIGNAL = {"SIGSEGV": SIGSEGV, "SIGXFSZ": SIGXFSZ, "SIGFPE": SIGFPE, "SIGABRT": SIGABRT}
_BY_VERDICT = {
    "accepted": ACCEPTED,
    "wrong_answer": WRONG_ANSWER,
    "time_limit_exceeded": TIME_LIMIT,
    "compilation_error": COMPILATION_ERROR,
    "memory_limit_exceeded": OTHER,
    "output_limit_exceeded": SIGXFSZ,
    "internal_error": INTERNAL_ERROR,
}


def status(status_id: int) -> dict[str, Any]:
    """The `status` object of a submission."""
    return {"id": status_id, "description": STATUSES[status_id]}


def signal_number(name: str | None) -> int | None:
    """SIGSEGV -> 11 (Judge0's exit_signal is a number); None for no or an unknown signal."""
    if not name:
        return None
    try:
        return int(signals.Signals[name])
    except KeyError:
        return None


def status_of(verdict: str, signal: str | None) -> int:
    """The Judge0 status id of a finished run."""
    if verdict == "runtime_error":
        if signal:
            return _BY_SIGNAL.get(signal, OTHER)
        return NZEC
    return _BY_VERDICT.get(verdict, INTERNAL_ERROR)


def message_of(status_id: int, verdict: str, exit_code: int | None, signal: str | None) -> str:
    """Judge0's `message` (isolate's words): why the run ended, or "" when it ended well."""
    if verdict == "memory_limit_exceeded":
        return "Memory limit exceeded"
    if verdict == "output_limit_exceeded":
        return "Output limit exceeded"
    if status_id == TIME_LIMIT:
        return "Time limit exceeded"
    if verdict == "runtime_error" and signal:
        return f"Caught fatal signal {signal_number(signal) or signal}"
    if verdict == "runtime_error" and exit_code:
        return f"Exited with error status {exit_code}"
    return ""
