"""Interactive problems (functions/interactive.py): the submission and an interactor at once,
each in its own sandbox, through the runner with the real sandbox."""

from __future__ import annotations

import uuid
from typing import Any

import pydantic
import pytest

from eventing.contract import ExecutionResult, InteractorProgram, Limits, Submission, TestCase
from functions import runner
from tests.judge_programs import BINARY_SEARCH_PY, GUESSING_INTERACTOR, HOSTILE, LINEAR_PY
from tests.sandbox_helpers import SETTINGS, language_or_skip, leftovers

BINARY_SEARCH_CPP = r"""#include <iostream>
#include <string>
int main() {
    int low = 1, high = 1000;
    for (;;) {
        int guess = (low + high) / 2;
        std::cout << guess << std::endl;
        std::string answer;
        if (!(std::cin >> answer) || answer == "=") return 0;
        if (answer == "<") high = guess - 1; else low = guess + 1;
    }
}
"""


def interact(
    code: str,
    interactor: dict[str, Any],
    cases: list[TestCase],
    language: str = "python",
    limits: Limits | None = None,
) -> ExecutionResult:
    submission = Submission(
        id=uuid.uuid4().hex,
        language=language,
        code=code,
        test_cases=cases,
        interactor=InteractorProgram.model_validate(interactor),
        limits=limits or Limits(wall_time_ms=5000),
    )
    return runner.execute(submission, language_or_skip(language), SETTINGS)


@pytest.fixture(autouse=True)
def _nothing_left_behind() -> Any:
    yield
    assert leftovers() == []


GUESSER = {"language": "python", "code": GUESSING_INTERACTOR}
SECRETS = [TestCase(input="1"), TestCase(input="1000"), TestCase(input="377")]


@pytest.mark.parametrize(
    ("language", "code"), [("python", BINARY_SEARCH_PY), ("cpp", BINARY_SEARCH_CPP)]
)
def test_binary_search_finds_the_number(language: str, code: str) -> None:
    result = interact(code, GUESSER, SECRETS, language)
    assert result.verdict == "accepted", result
    cases = result.test_cases or []
    assert [c.message for c in cases][1] == "found 1000 in 10 guesses"
    assert all(c.interactor is not None and c.interactor.exit_code == 0 for c in cases)


def test_too_many_queries_is_a_wrong_answer() -> None:
    result = interact(LINEAR_PY, GUESSER, [TestCase(input="500")])
    case = result.test_cases[0]  # type: ignore[index]
    assert (result.verdict, case.message) == ("wrong_answer", "too many queries"), result


def test_the_transcript_holds_both_sides_and_is_bounded() -> None:
    result = interact(BINARY_SEARCH_PY, {**GUESSER, "transcript": True}, [TestCase(input="1")])
    transcript = result.test_cases[0].transcript  # type: ignore[index]
    assert transcript is not None
    lines = transcript.splitlines()
    assert lines[:2] == ["> 500", "< <"] and lines[-1] == "< =", transcript
    # 200 kB in one write: past the 64 kB bound at once, however slowly a loaded machine relays
    # (100,000 short lines once reached only 8,411 of them within the wall limit in CI).
    flood = "import sys\nsys.stdout.write(('x' * 999 + '\\n') * 200)\nsys.exit(0)"
    flooded = interact(
        "import sys\nsys.stdin.read()", {"language": "python", "code": flood, "transcript": True},
        [TestCase()],
    )  # fmt: skip
    text = flooded.test_cases[0].transcript or ""  # type: ignore[index]
    assert text.endswith("[truncated]") and len(text) <= 64 * 1024 + 20


def test_a_solution_that_forgets_to_flush_is_stopped_by_its_wall_limit() -> None:
    silent = "print(500)\nimport time\ntime.sleep(60)"  # never flushes: the interactor waits
    result = interact(silent, GUESSER, [TestCase(input="7")], limits=Limits(wall_time_ms=2000))
    case = result.test_cases[0]  # type: ignore[index]
    assert result.verdict == "time_limit_exceeded", result
    assert case.limit_exceeded == "wall_time" and case.wall_time < 4000


def test_a_solution_flooding_the_interactor_is_output_limit_exceeded() -> None:
    reader = "import sys\nfor line in sys.stdin:\n    pass\n"
    flood = "import sys\nwhile True:\n    sys.stdout.write('1\\n' * 4096)"
    result = interact(flood, {"language": "python", "code": reader}, [TestCase()])
    assert result.verdict == "output_limit_exceeded", result


def test_an_interactor_can_give_points() -> None:
    points = (
        "import sys\nsys.stdin.readline()\n"
        "print('points 0.25 one of four', file=sys.stderr)\nsys.exit(7)"
    )
    result = interact(
        "print(1, flush=True)", {"language": "python", "code": points}, [TestCase(points=1)]
    )
    case = result.test_cases[0]  # type: ignore[index]
    assert (case.points, result.score, case.verdict) == (0.25, 0.25, "wrong_answer"), result


HOSTILE_INTERACTORS = {
    name: HOSTILE[name] for name in ("fork-bomb", "hang", "output-flood", "exit-3")
}


@pytest.mark.parametrize("name", sorted(HOSTILE_INTERACTORS))
def test_a_misbehaving_interactor_is_an_internal_error(name: str) -> None:
    interactor = {
        "language": "python",
        "code": HOSTILE_INTERACTORS[name],
        "limits": {"cpuTimeMs": 1000, "wallTimeMs": 3000, "processes": 16, "outputKb": 256},
    }
    result = interact(
        "import sys\nsys.stdin.read()", interactor, [TestCase()], limits=Limits(wall_time_ms=3000)
    )
    case = result.test_cases[0]  # type: ignore[index]
    assert result.verdict == "internal_error", result
    assert (case.message or "").startswith("the interactor"), case


def test_a_checker_and_an_interactor_together_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="a checker or an interactor"):
        Submission(
            id="x",
            language="python",
            code="print(1)",
            checker={"language": "python", "code": "pass"},  # type: ignore[arg-type]
            interactor={"language": "python", "code": "pass"},  # type: ignore[arg-type]
        )
