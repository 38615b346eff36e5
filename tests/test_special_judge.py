"""Checker programs (functions/special_judge.py): classic special-judge problems, testlib's exit
codes, and checkers that misbehave, all through the runner with the real sandbox."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from eventing.contract import ExecutionResult, Program, SourceFile, Submission, TestCase
from functions import runner
from tests.judge_programs import HOSTILE
from tests.sandbox_helpers import SETTINGS, language_or_skip, leftovers

PERMUTATION_CHECKER = """import sys
given = open(sys.argv[1]).read().split()
out = open(sys.argv[2]).read().split()
if sorted(out) != sorted(given):
    print(f"not a permutation of the input: {' '.join(out)}", file=sys.stderr)
    sys.exit(1)
print("ok, a permutation", file=sys.stderr)
"""
FLOAT_CHECKER = r"""#include <cmath>
#include <cstdio>
int main(int argc, char **argv) {
    double got, want;
    FILE *out = std::fopen(argv[2], "r"), *ans = std::fopen(argv[3], "r");
    if (std::fscanf(ans, "%lf", &want) != 1) { std::fputs("no answer", stderr); return 3; }
    if (std::fscanf(out, "%lf", &got) != 1) {
        std::fputs("no number in the output", stderr); return 2;
    }
    if (std::fabs(got - want) > 1e-6 * std::fmax(1.0, std::fabs(want))) {
        std::fprintf(stderr, "expected %.9f, found %.9f", want, got); return 1;
    }
    std::fprintf(stderr, "ok %.9f", got);
    return 0;
}
"""
POINTS_CHECKER = """import sys
out = open(sys.argv[2]).read().split()
print(f"points {len(out) / 4} found {len(out)} of 4 numbers", file=sys.stderr)
sys.exit(7)
"""


def judge(
    code: str,
    checker: dict[str, Any],
    cases: list[TestCase],
    language: str = "python",
) -> ExecutionResult:
    language_or_skip(language)
    submission = Submission(
        id=uuid.uuid4().hex,
        language=language,
        code=code,
        test_cases=cases,
        checker=Program.model_validate(checker),
    )
    return runner.execute(submission, language_or_skip(language), SETTINGS)


@pytest.fixture(autouse=True)
def _nothing_left_behind() -> Any:
    yield
    assert leftovers() == []


def test_any_permutation_is_accepted_and_a_wrong_one_is_not() -> None:
    checker = {"language": "python", "code": PERMUTATION_CHECKER}
    cases = [TestCase(input="3 1 2", expected="1 2 3"), TestCase(input="5 4", expected="4 5")]
    reversed_order = judge("print(*reversed(input().split()))", checker, cases)
    assert reversed_order.verdict == "accepted", reversed_order
    assert [c.message for c in reversed_order.test_cases or []] == ["ok, a permutation"] * 2
    assert all(c.passed for c in reversed_order.test_cases or [])
    first = reversed_order.test_cases[0]  # type: ignore[index]
    assert first.checker is not None and first.checker.exit_code == 0
    wrong = judge("print(1, 1, 1)", checker, cases)
    assert wrong.verdict == "wrong_answer", wrong
    assert wrong.test_cases is not None
    assert wrong.test_cases[0].message == "not a permutation of the input: 1 1 1"
    assert wrong.test_cases[0].passed is False


def test_a_compiled_checker_judges_floats_with_tolerance() -> None:
    checker = {"language": "cpp", "code": FLOAT_CHECKER}
    cases = [TestCase(input="2", expected="1.414213562"), TestCase(input="3", expected="1.7320508")]
    close = judge("import math\nprint(math.sqrt(int(input())) + 1e-9)", checker, cases)
    assert close.verdict == "accepted", close
    off = judge("print(1.5)", checker, cases)
    assert off.verdict == "wrong_answer", off
    assert off.test_cases is not None
    assert off.test_cases[0].message == "expected 1.414213562, found 1.500000000"
    blank = judge("print()", checker, cases[:1])
    assert blank.verdict == "wrong_answer", blank
    assert blank.test_cases is not None
    assert blank.test_cases[0].message == "presentation error: no number in the output"


def test_points_from_the_checkers_report() -> None:
    checker = {"language": "python", "code": POINTS_CHECKER}
    cases = [TestCase(input="", points=1.0), TestCase(input="", points=1.0)]
    half = judge("print(1, 2)", checker, cases)
    assert half.test_cases is not None
    assert [c.points for c in half.test_cases] == [0.5, 0.5]
    assert (half.score, half.max_score, half.verdict) == (1.0, 2.0, "wrong_answer")
    full = judge("print(1, 2, 3, 4)", checker, cases)
    assert (full.score, full.verdict) == (2.0, "accepted"), full


@pytest.mark.parametrize(
    ("checker_code", "reason"),
    [
        ("import sys\nprint('answer file is broken', file=sys.stderr)\nsys.exit(3)", "exit 3"),
        ("import sys\nsys.exit(5)", "exited 5"),
        ("import sys\nprint('no number here', file=sys.stderr)\nsys.exit(7)", "without points"),
        # An uncaught exception exits 1, which is not "wrong answer": the checker crashed.
        ("print(open('/nonexistent').read())", "crashed (exit 1)"),
    ],
)
def test_a_checker_that_fails_is_an_internal_error_never_accepted(
    checker_code: str, reason: str
) -> None:
    result = judge("print(1)", {"language": "python", "code": checker_code}, [TestCase()])
    assert result.verdict == "internal_error", result
    assert result.test_cases is not None and reason in (result.test_cases[0].message or "")


HOSTILE_CHECKERS = {
    name: HOSTILE[name] for name in ("fork-bomb", "hang", "sleeps", "stderr-flood", "memory-bomb")
}


@pytest.mark.parametrize("name", sorted(HOSTILE_CHECKERS))
def test_a_hostile_checker_is_stopped_by_its_own_limits(name: str) -> None:
    checker = {
        "language": "python",
        "code": HOSTILE_CHECKERS[name],
        "limits": {"cpuTimeMs": 1000, "wallTimeMs": 3000, "memoryMb": 64, "processes": 16},
    }
    result = judge("print(1)", checker, [TestCase(expected="1")])
    assert result.verdict == "internal_error", result
    case = result.test_cases[0]  # type: ignore[index]
    # Stopped by a limit ("failed: time limit exceeded"...), or crashed of what a limit refused
    # (a fork refused: BlockingIOError).
    assert (case.message or "").startswith(("the checker failed", "the checker crashed")), case
    assert case.checker is not None and case.checker.wall_time <= 10_000, case.checker
    if name in ("hang", "sleeps"):  # the limit it hit is named, not the SIGKILL that ended it
        assert case.message == "the checker failed: time limit exceeded", case.message
    # The submission's own run is still reported as it was.
    assert case.actual_output == "1\n" and case.execution_time < 1000


def test_the_checker_sees_only_its_own_files_and_the_three() -> None:
    spy = """import os, sys
print(sorted(os.listdir('.')), file=sys.stderr)
for path in ['/box/main.py', '../box/main.py', '/tmp', '/proc/1/cwd']:
    try:
        print(path, os.listdir(path) if os.path.isdir(path) else open(path).read(), file=sys.stderr)
    except OSError as e:
        print(path, 'refused', e.errno, file=sys.stderr)
"""
    secret = "print('the submission source: SECRET-SOLUTION-1234')"
    result = judge(
        secret, {"language": "python", "code": spy}, [TestCase(input="in", expected="a")]
    )
    case = result.test_cases[0]  # type: ignore[index]
    assert case.message is not None
    listing = "['answer.txt', 'input.txt', 'main.py', 'output.txt', 'sentinel_checker.py']"
    assert case.message.splitlines()[0] == listing
    # main.py here is the checker's own source; the submission's is nowhere.
    assert "SECRET-SOLUTION-1234')" not in case.message.replace(
        "the submission source: SECRET-SOLUTION-1234\n", ""
    )
    assert "print('the submission source" not in case.message


def test_a_solution_that_fails_on_its_own_is_not_given_to_the_checker() -> None:
    checker = {"language": "python", "code": "raise SystemExit(0)"}
    result = judge("while True:\n    pass", checker, [TestCase(input="")])
    result_case = result.test_cases[0]  # type: ignore[index]
    assert result.verdict == "time_limit_exceeded"
    assert result_case.checker is None and result_case.message is None


def test_a_checker_that_does_not_compile_or_has_no_language_is_an_internal_error() -> None:
    broken = judge("print(1)", {"language": "cpp", "code": "int main( {"}, [TestCase()])
    assert broken.verdict == "internal_error" and "did not compile" in broken.error, broken
    unknown = judge("print(1)", {"language": "cobol", "code": "x"}, [TestCase()])
    assert unknown.verdict == "internal_error" and "not installed" in unknown.error, unknown


def test_a_checker_is_compiled_with_its_extra_files_as_testlib_h_would_be() -> None:
    """testlib.h is not in any registry reachable here, and not copied into the project: a
    header of the same name stands in for it, sent as the checker's extra file."""
    header = "#pragma once\n#include <cstdlib>\ninline void quitf_ok() { std::exit(0); }\n"
    program = '#include "testlib.h"\nint main() { quitf_ok(); }\n'
    checker = {
        "language": "cpp",
        "code": program,
        "files": [SourceFile(name="testlib.h", content=header).wire()],
    }
    result = judge("print(2)", checker, [TestCase(input="1")])
    assert result.verdict == "accepted", result


HELPER_CPP = r"""#include "sentinel_checker.h"
int main(int argc, char **argv) {
    sentinel::Checker c(argc, argv);
    long long want = c.answer.integer(), got = c.output.integer();
    if (got != want) c.wrong("expected " + std::to_string(want) + ", found " + std::to_string(got));
    c.output.end();
    c.accept("same number");
}
"""
HELPER_PY = """import sentinel_checker
c = sentinel_checker.Checker()
n = c.input.integer()
got = [c.output.integer() for _ in range(n)]
c.output.end()
c.points(sum(1 for g in got if g % 2 == 0) / n, f"{n} numbers")
"""


@pytest.mark.parametrize(
    ("code", "verdict", "message"),
    [
        ("print(42)", "accepted", "same number"),
        ("print(41)", "wrong_answer", "expected 42, found 41"),
        (
            "print('forty-two')",
            "wrong_answer",
            "presentation error: not an integer in output.txt: forty-two",
        ),
        ("print(42, 43)", "wrong_answer", "extra data in output.txt"),
    ],
)
def test_our_cpp_checker_helper(code: str, verdict: str, message: str) -> None:
    result = judge(code, {"language": "cpp", "code": HELPER_CPP}, [TestCase(expected="42")])
    case = result.test_cases[0]  # type: ignore[index]
    assert (case.verdict, case.message) == (verdict, message), case


def test_our_python_checker_helper_gives_points() -> None:
    result = judge(
        "print(2, 3, 4, 5)",
        {"language": "python", "code": HELPER_PY},
        [TestCase(input="4", points=1)],
    )
    case = result.test_cases[0]  # type: ignore[index]
    assert (case.points, case.message) == (0.5, "points 0.5 4 numbers"), case


def test_a_checker_finds_no_file_of_another_job(tmp_path: Any) -> None:
    """A file of another job is planted in the executor's work directory (where jobs' boxes
    live) with a canary; the checker walks every directory it can see for it."""
    other = SETTINGS.work_dir / f"job-{uuid.uuid4().hex[:8]}-planted"
    other.mkdir(parents=True)
    canary = f"OTHER-JOB-{uuid.uuid4().hex}"
    (other / "main.py").write_text(f"print('{canary}')")
    hunt = f"""import os, sys
wanted = {canary[::-1]!r}[::-1].encode()
seen = 0
for root, dirs, files in os.walk('/'):
    if root.startswith(('/proc', '/sys', '/dev', '/usr')):  # /usr: the read-only toolchain
        continue
    for name in files:
        seen += 1
        try:
            if wanted in open(os.path.join(root, name), 'rb').read(1 << 20):
                print('FOUND IN', os.path.join(root, name), file=sys.stderr)
        except OSError:
            pass
print('looked at', seen, 'files', file=sys.stderr)
"""
    try:
        limits = {"cpuTimeMs": 10000, "wallTimeMs": 20000}
        checker = {"language": "python", "code": hunt, "limits": limits}
        result = judge("print(1)", checker, [TestCase(expected="1")])
    finally:
        for path in other.iterdir():
            path.unlink()
        other.rmdir()
    case = result.test_cases[0]  # type: ignore[index]
    assert case.message is not None and case.message.startswith("looked at"), case
    assert int(case.message.split()[2]) >= 5  # its own box at least: a real search
    assert "FOUND IN" not in case.message, case.message
