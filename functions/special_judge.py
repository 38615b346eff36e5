"""Checker programs (special judges): a problem setter's program decides each test case.

The conventions are testlib's, so checkers written for Codeforces, Polygon or DMOJ work: the
checker runs as `<its run command> input.txt output.txt answer.txt` in a sandbox of its own,
whose /box holds its compiled files and those three (the test's input, the submission's output,
the expected answer, empty when the case has none). Its exit code is the verdict:

    0 accepted        1 wrong answer       2 presentation error (wrong_answer; the message says)
    3 the checker's own failure (internal_error)
    7 points: the first number of its report's first line ("points 0.5 ..." or "0.5 ...") is
      what the test earned (capped at the case's points; accepted when it earns them all)

For setters without testlib.h, our own helpers follow the same conventions:
functions/checker_support/sentinel_checker.h (C++) and sentinel_checker.py (Python), put
beside every checker's sources in those languages.

Its report (the message) is what it wrote to stderr, where testlib writes, else its stdout.
A checker that dies of an uncaught exception (Python exits 1 then) crashed; it did not judge.

Whose fault: everything the checker does wrong (exit 3 or any code not above, a crash, a limit
it hits, a report without points) is the problem setter's, never the submission's: the test's
verdict is internal_error with the reason, and never accepted. The checker is held to its own
limits (the executor's defaults and maxima) and sees nothing of the submission but its output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from eventing.contract import SourceFile, StageResult, Verdict
from functions import compile_cache, grading, sandbox
from functions.languages import Language

INPUT, OUTPUT, ANSWER = "input.txt", "output.txt", "answer.txt"
# Our own checker helpers, put beside a checker's sources in these languages (a setter's own
# file of the same name wins): functions/checker_support/.
SUPPORT = Path(__file__).resolve().parent / "checker_support"
HELPERS = {"cpp": "sentinel_checker.h", "python": "sentinel_checker.py"}


def helper_files(language: str, given: list[SourceFile] | None) -> list[SourceFile] | None:
    """The checker's files with our helper for its language added (unless it sent one)."""
    name = HELPERS.get(language)
    files = list(given or [])
    if name is None or any(f.name == name for f in files):
        return given
    return [*files, SourceFile(name=name, content=(SUPPORT / name).read_text())]


MESSAGE_CHARS = 4096
_EXITS: dict[int, Verdict] = {0: "accepted", 1: "wrong_answer", 2: "wrong_answer"}
POINTS_EXIT = 7
FAILED_EXIT = 3
_NUMBER = re.compile(r"^\s*(?:points\s+)?([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


@dataclass(frozen=True)
class Judgement:
    """What the checker made of one test: the verdict, its message, the points it gave (exit
    7 only) and its own run."""

    verdict: Verdict
    message: str
    points: float | None
    run: StageResult


@dataclass(frozen=True)
class Side:
    """One sandboxed program of a test: its command line, limits, box and environment."""

    argv: tuple[str, ...]
    limits: sandbox.RunLimits
    box: Path
    env: dict[str, str]
    ro_paths: tuple[str, ...]
    out_of_memory: tuple[str, ...] = ()


@dataclass(frozen=True)
class SetterProgram:
    """A compiled checker or interactor: its language, compiled box, entry file and limits."""

    language: Language
    box: Path
    entry: str
    limits: sandbox.RunLimits

    def side(self, work: Path, files: dict[str, str]) -> Side:
        """Its run for one test: a copy of its box with `files` added (in `work`, removed by
        the caller), run as `<run command> input.txt output.txt answer.txt`."""
        box = work / "setter-box"
        compile_cache.link_copy(self.box, box)
        for name, text in files.items():
            (box / name).write_text(text)
        memory_kb = self.limits.memory_kb
        run = self.language.expand(self.language.run, memory_kb, self.entry)
        return Side(
            argv=(*run, INPUT, OUTPUT, ANSWER),
            limits=self.limits,
            box=box,
            env=self.language.environment(memory_kb, self.entry),
            ro_paths=self.language.ro_paths,
            out_of_memory=self.language.out_of_memory,
        )

    def judge(
        self, case_input: str, output: str, answer: str, work: Path, case_points: float | None
    ) -> Judgement:
        """Run it as a checker on one test's three files."""
        side = self.side(work, {INPUT: case_input, OUTPUT: output, ANSWER: answer})
        outcome = sandbox.run(
            side.argv, limits=side.limits, box=side.box, env=side.env, ro_paths=side.ro_paths
        )
        return judgement(
            outcome,
            self.limits,
            case_points,
            self.language.out_of_memory,
            self.language.uncaught_error,
        )


def judgement(
    outcome: sandbox.RunOutcome,
    limits: sandbox.RunLimits,
    case_points: float | None,
    out_of_memory: tuple[str, ...] = (),
    uncaught_error: tuple[str, ...] = (),
    role: str = "checker",
) -> Judgement:
    """The verdict a checker's run gives a test (see the module's docstring). A checker that
    died of an uncaught exception (its language's `uncaught_error` texts on stderr) crashed:
    Python exits 1 then, which is not its saying "wrong answer"."""
    stderr = outcome.stderr.decode("utf-8", errors="replace")
    stdout = outcome.stdout.decode("utf-8", errors="replace")
    report = (stderr.strip() or stdout.strip())[:MESSAGE_CHARS]
    own = grading.verdict(outcome, limits, None, stdout, out_of_memory=out_of_memory)
    run = StageResult(
        stdout=stdout[:MESSAGE_CHARS],
        stderr=stderr[:MESSAGE_CHARS],
        exit_code=outcome.exit_code,
        signal=outcome.signal_name,
        execution_time=outcome.cpu_ms,
        wall_time=outcome.wall_ms,
        memory_kb=outcome.memory_kb,
        verdict=own if own != "runtime_error" or outcome.signal is not None else "accepted",  # type: ignore[arg-type]
    )
    if own not in ("accepted", "runtime_error") or outcome.signal is not None:
        # A limit's verdict names the limit (the sandbox kills with SIGKILL at it); otherwise
        # the signal it died of.
        limit = own not in ("accepted", "runtime_error")
        what = own.replace("_", " ") if limit else f"killed by {outcome.signal_name}"
        return _failed(f"the {role} failed: {what}", report, run)
    code = outcome.exit_code
    if code != 0 and any(text in stderr for text in uncaught_error):
        return _failed(f"the {role} crashed (exit {code})", report, run)
    if code in _EXITS:
        verdict = _EXITS[code]
        message = f"presentation error: {report}" if code == 2 else report
        return Judgement(verdict, message, None, run)
    if code == POINTS_EXIT:
        found = _NUMBER.match(report.splitlines()[0] if report else "")
        if found is None:
            return _failed(
                f"the {role} exited 7 without points on its report's first line", report, run
            )
        earned = max(0.0, float(found.group(1)))
        if case_points is not None:
            earned = min(earned, case_points)
        full = case_points is None or earned >= case_points
        return Judgement("accepted" if full else "wrong_answer", report, earned, run)
    if code == FAILED_EXIT:
        return _failed(f"the {role} failed (exit 3)", report, run)
    return _failed(
        f"the {role} exited {code}, which means nothing in testlib's conventions", report, run
    )


def _failed(reason: str, report: str, run: StageResult) -> Judgement:
    message = f"{reason}: {report}" if report else reason
    return Judgement("internal_error", message[:MESSAGE_CHARS], None, run)
