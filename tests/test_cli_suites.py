"""Test suite files and GitHub Classroom commands, read and checked before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sentinel import classroom, language_names
from sentinel.judging import MODES
from sentinel.testsuite import SuiteError, load


@pytest.mark.parametrize(
    ("setup", "run", "language"),
    [
        ("", "python3 main.py", "python"),
        ("", "python hello.py", "python"),
        ("", "python3 -u hello.py", "python"),
        ("", "node index.js", "javascript"),
        ("javac Main.java", "java Main", "java"),
        ("", "javac *.java && java -cp . Main", "java"),
        ("g++ -O2 -o a.out main.cpp", "./a.out", "cpp"),
        ("", "g++ main.cpp && ./a.out", "cpp"),
        ("rm *.o", "gcc hello.c -o hello; ./hello", "c"),
        ("", "go run main.go", "go"),
        ("", "go run .", "go"),
        ("", "cargo run --release", "rust"),
        ("", "ruby app.rb", "ruby"),
    ],
)
def test_commands_that_run_the_program_are_mapped(setup: str, run: str, language: str) -> None:
    classroom.check("t", setup, run, language)


@pytest.mark.parametrize(
    ("setup", "run", "language", "why"),
    [
        ("", "npm test", "javascript", "does not run a program"),
        ("", "make test", "cpp", "does not run a program"),
        ("", "pytest", "python", "does not run a program"),
        ("", "python -m pytest -q", "python", "does not run a program"),
        ("pip install numpy", "python3 main.py", "python", "not a build step"),
        ("", "node index.js", "python", "runs javascript, but the submission is python"),
        ("", "./a.out", "python", "native executable"),
        ("javac Main.java", "java Main", "cpp", "does not build a cpp program"),
        ("", "python3 main.py | sort", "python", "pipes"),
        ("", "python3 main.py arg", "python", "does not run a program"),
        ("", "", "python", "empty"),
    ],
)
def test_commands_that_cannot_be_mapped_are_refused(
    setup: str, run: str, language: str, why: str
) -> None:
    with pytest.raises(classroom.CommandRefused, match="test 'unit'") as refused:
        classroom.check("unit", setup, run, language)
    assert why in str(refused.value)


def test_language_from_extension_and_aliases() -> None:
    assert [language_names.guess(f"x{e}") for e in (".py", ".JS", ".cc", ".go", ".rs")] == [
        "python", "javascript", "cpp", "go", "rust",
    ]  # fmt: skip
    assert language_names.guess("Makefile") is None
    assert language_names.canonical("Python3") == "python"


@pytest.mark.parametrize(
    ("mode", "actual", "expected", "passes"),
    [
        ("trimmed", "a  \nb\n\n", "a\nb", True),
        ("trimmed", " a\n", "a", False),
        ("exact", "a\n", "a", False),
        ("stripped", "\r\n a\r\nb \n", "a\nb", True),
        ("stripped", "a\nb\n", "a b", False),
        ("included", "Hello World\n", "World", True),
        ("included", "Hello\n", "World", False),
        ("regex", "answer: 42\n", r"\d+$", True),
        ("regex", "answer: x\n", r"\d+$", False),
    ],
)
def test_comparison_modes(mode: str, actual: str, expected: str, passes: bool) -> None:
    assert MODES[mode].judge(actual, expected) is passes


def test_our_suite_and_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "comparison: exact\nlimits: {cpuTimeMs: 500}\n"
        "tests:\n- {input: 1, expected: 2}\n- {name: runs, comparison: included, points: 2.5}\n"
    )
    suite = load(path, "python")
    first, second = suite.cases
    assert (first.name, first.input, first.expected, first.mode, first.points) == (
        "test 1", "1", "2", "exact", 1.0,
    )  # fmt: skip
    assert (second.expected, second.mode, second.points) == (None, "included", 2.5)
    assert suite.limits == {"cpuTimeMs": 500}
    assert suite.max_points == 3.5


def test_classroom_fields_are_read_as_the_classroom_means_them(tmp_path: Path) -> None:
    path = tmp_path / "autograding.json"
    path.write_text(
        json.dumps(
            {"tests": [{"name": "x", "setup": "", "run": "python3 a.py", "output": "Hi",
                        "comparison": "exact", "timeout": 2, "points": 4}]}
        )
    )  # fmt: skip
    (case,) = load(path, "python").cases
    assert (case.mode, case.expected, case.wall_time_ms, case.points) == (
        "stripped", "Hi", 120_000, 4.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- {name: a, expcted: '1'}", "unknown keys ['expcted']"),
        ("- {name: a, comparison: fuzzy}", "comparison 'fuzzy' is not one of"),
        ("- {name: a, expected: '(', comparison: regex}", "invalid regular expression"),
        ("- {name: a, points: -1}", "points must be a number >= 0"),
        ("- {name: a, input: [1]}", "input must be text"),
        ("[]", "the suite has no tests"),
        ("name: nope", "expected a list of test cases"),
        ("- a: [", "is not valid YAML"),
        ("{tests: [{input: '1'}], limits: {cpuTimeMs: 0}}", "limits.cpuTimeMs"),
    ],
)
def test_bad_suites_are_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError) as refused:
        load(path, "python")
    assert message in str(refused.value)
    assert str(path) in str(refused.value)
