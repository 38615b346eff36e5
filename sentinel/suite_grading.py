"""Grade one file against a suite: send its cases to Sentinel, judge what is judged here.

Cases travel in as few submissions as the server's per-submission settings allow: one per
(server comparison, wall-time limit) pair, so the file is compiled once per group and a
classroom suite with one timeout is a single job. Client-judged cases are sent without
`expected`; the server then only says whether the run was clean, and `judging` decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sentinel.client import Client, ServiceError
from sentinel.judging import DEFAULT_MODE, MODES
from sentinel.testsuite import Case, Suite

SNIPPET = 200


@dataclass(frozen=True)
class CaseOutcome:
    """What one case did and what it scored."""

    case: Case
    verdict: str
    time_ms: int
    wall_ms: int
    memory_kb: int
    actual: str
    stderr: str
    detail: str
    earned: float | None = None  # what a checker program gave (exit 7), else by passing

    @property
    def passed(self) -> bool:
        """A case passes only on `accepted`: a clean run, with output judged right."""
        return self.verdict == "accepted"

    @property
    def awarded(self) -> float:
        """The case's points when it passed, else nothing; with a checker program that gives
        points, what it gave."""
        if self.earned is not None:
            return self.earned
        return self.case.points if self.passed else 0.0


@dataclass(frozen=True)
class Grade:
    """The outcome of every case of a suite, in the suite's order."""

    file: str
    language: str
    outcomes: tuple[CaseOutcome, ...]
    compile_output: str

    @property
    def points(self) -> float:
        """Points earned."""
        return sum(o.awarded for o in self.outcomes)

    @property
    def max_points(self) -> float:
        """Points on offer."""
        return sum(o.case.points for o in self.outcomes)

    @property
    def passed(self) -> bool:
        """True when every case passed."""
        return all(o.passed for o in self.outcomes)

    def count(self, verdict: str) -> int:
        """How many cases ended with `verdict`."""
        return sum(o.verdict == verdict for o in self.outcomes)


def grade(
    client: Client,
    *,
    code: str,
    language: str,
    file: str,
    suite: Suite,
    limits: dict[str, int],
    on_wait: Callable[[], None] | None = None,
) -> Grade:
    """Run every case of `suite` on `code` and judge it; ServiceError when Sentinel cannot."""
    groups: dict[tuple[str, int | None], list[int]] = {}
    for index, case in enumerate(suite.cases):
        compare = MODES[case.mode].server or DEFAULT_MODE
        groups.setdefault((compare, case.wall_time_ms), []).append(index)
    outcomes: dict[int, CaseOutcome] = {}
    compile_output = ""
    for (compare, wall_ms), indexes in groups.items():
        cases = [suite.cases[i] for i in indexes]
        judged_there = suite.checker is not None or suite.interactor is not None
        run_limits = {**suite.limits, **limits}
        if wall_ms is not None and "wallTimeMs" not in limits:
            run_limits["wallTimeMs"] = wall_ms
        body: dict[str, Any] = {
            "code": code,
            "language": language,
            "testCases": [_wire(case, judged_there) for case in cases],
            "compare": compare,
            "limits": run_limits,
        }
        if suite.checker is not None:
            body["checker"] = suite.checker
        if suite.interactor is not None:
            body["interactor"] = suite.interactor
        try:
            job = client.execute(body, on_wait)
        except ServiceError as exc:
            # A suite's timeout (GitHub Classroom's are minutes) is a bound, not a request for
            # that much: above the server's maximum, which it refuses naming it, run with that.
            limit = exc.body.get("limit")
            if exc.body.get("field") != "limits.wallTimeMs" or not isinstance(limit, int):
                raise
            if wall_ms is None or "wallTimeMs" in limits:
                raise
            body["limits"] = {**run_limits, "wallTimeMs": limit}
            job = client.execute(body, on_wait)
        if job.get("status") == "failed":
            raise ServiceError(f"Sentinel could not run the job: {job.get('error') or job}")
        compile_output = compile_output or str(job.get("compileOutput") or "")
        results = job.get("testCases") or []
        for position, (index, case) in enumerate(zip(indexes, cases, strict=True)):
            result = results[position] if position < len(results) else None
            judged = result if isinstance(result, dict) else None
            outcomes[index] = _judge(case, job, judged, judged_there)
    return Grade(
        file=file,
        language=language,
        outcomes=tuple(outcomes[i] for i in range(len(suite.cases))),
        compile_output=compile_output,
    )


def _wire(case: Case, checked: bool = False) -> dict[str, Any]:
    """The test case as sent: `expected` only when the server judges this comparison; with a
    checker program, always (it is the checker's answer file) and the points it may give."""
    sent: dict[str, Any] = {"input": case.input}
    if case.expected is not None and (checked or MODES[case.mode].server is not None):
        sent["expected"] = case.expected
    if checked:
        sent["points"] = case.points
    return sent


def _judge(
    case: Case, job: dict[str, Any], result: dict[str, Any] | None, checked: bool = False
) -> CaseOutcome:
    """The case's outcome from its per-case result (None: the job stopped before it ran)."""
    if result is None:
        verdict = str(job.get("verdict") or "internal_error")
        if verdict == "accepted":  # the server returned fewer cases than it was sent
            verdict = "internal_error"
        detail = {
            "compilation_error": "the program did not compile",
            "internal_error": f"Sentinel could not run this case: {job.get('error') or ''}".strip(),
        }.get(verdict, verdict.replace("_", " "))
        return CaseOutcome(case, verdict, 0, 0, 0, "", "", detail)
    actual = str(result.get("actualOutput") or "")
    stderr = str(result.get("error") or "")
    verdict = str(result.get("verdict") or "internal_error")
    mode = MODES[case.mode]
    if not checked and verdict == "accepted" and mode.server is None and case.expected is not None:
        verdict = "accepted" if mode.judge(actual, case.expected) else "wrong_answer"
    message = result.get("message")
    earned = (
        result.get("points") if checked and isinstance(result.get("points"), int | float) else None
    )
    detail = _detail(case, verdict, actual, stderr, result)
    if checked and isinstance(message, str) and message and verdict != "accepted":
        who = "interactor" if suite_interactive(job) else "checker"
        detail = f"the {who} says: {_short(message)}"
    return CaseOutcome(
        case=case,
        verdict=verdict,
        time_ms=int(result.get("executionTime") or 0),
        wall_ms=int(result.get("wallTime") or 0),
        memory_kb=int(result.get("memoryKb") or 0),
        actual=actual,
        stderr=stderr,
        detail=detail,
        earned=float(earned) if earned is not None else None,
    )


def suite_interactive(job: dict[str, Any]) -> bool:
    """Whether a job's results came from an interactor (its test cases carry its run)."""
    return any(isinstance(c, dict) and "interactor" in c for c in job.get("testCases") or [])


def _detail(case: Case, verdict: str, actual: str, stderr: str, result: dict[str, Any]) -> str:
    """One line a student can act on: what was expected and what came out, or how it died."""
    if verdict == "accepted":
        return ""
    if verdict == "wrong_answer":
        return f"expected {_short(case.expected or '')} ({case.mode}), got {_short(actual)}"
    if verdict == "runtime_error":
        how = (
            f"signal {result['signal']}"
            if result.get("signal")
            else f"exit code {result.get('exitCode')}"
        )
        last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        return f"runtime error ({how})" + (f": {_short(last)}" if last else "")
    return verdict.replace("_", " ")


def _short(text: str) -> str:
    shown = text if len(text) <= SNIPPET else text[:SNIPPET] + "…"
    return repr(shown)
