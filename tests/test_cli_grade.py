"""`sentinel grade`: suites (ours and GitHub Classroom's), the table, JUnit XML, GitHub
annotations, and the exit codes CI branches on.

Every grading test runs the real command in a subprocess against the real service (`stack`);
the JUnit reports are validated against the Ant and Jenkins schemas in tests/schemas/.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from sentinel.serve import free_port
from tests.cli_support import require_language, sentinel
from tests.conftest import Stack
from tests.judge_programs import BINARY_SEARCH_PY, GUESSING_INTERACTOR, LINEAR_PY

SCHEMAS = Path(__file__).parent / "schemas"
DOUBLE_PY = "print(int(input()) * 2)\n"
WRONG_PY = "n = int(input())\nprint(n * 2 if n < 4 else n + 2)\n"
SUITE_YAML = """\
- name: doubles two
  input: "2"
  expected: "4"
- name: doubles five
  input: "5"
  expected: "10"
  points: 2
- name: mentions 14
  input: "7"
  expected: "14"
  comparison: included
- name: two digits
  input: "6"
  expected: "^1\\\\d$"
  comparison: regex
"""
# GitHub Classroom's autograding.json, with the fields its documentation lists (name, setup,
# run, input, output, comparison, timeout in minutes, points) and its own hello-world example.
CLASSROOM = {
    "tests": [
        {
            "name": "Hello World",
            "setup": "",
            "run": "python3 hello.py",
            "input": "",
            "output": "Hello World",
            "comparison": "included",
            "timeout": 10,
            "points": 1,
        },
        {
            "name": "Greets by name",
            "setup": "",
            "run": "python hello.py",
            "input": "Ada",
            "output": "Hello World\nHello, Ada!",
            "comparison": "exact",
            "timeout": 1,
            "points": 2,
        },
        {
            "name": "Polite",
            "setup": "rm -f *.pyc",
            "run": "python3 -u hello.py",
            "input": "Bob",
            "output": "Hello, \\w+!$",
            "comparison": "regex",
            "timeout": 10,
            "points": 3,
        },
    ]
}
HELLO_PY = (
    "print('Hello World')\n"
    "try:\n    name = input()\nexcept EOFError:\n    name = ''\n"
    "if name:\n    print(f'Hello, {name}!')\n"
)


@pytest.fixture(scope="module")
def schemas() -> list[xmlschema.XMLSchema]:
    """Apache Ant's schema (the strict one) and Jenkins' (what CI servers read)."""
    names = ("ant-junit.xsd", "jenkins-junit-10.xsd")
    return [xmlschema.XMLSchema(SCHEMAS / name) for name in names]


def _validate(path: Path, schemas: list[xmlschema.XMLSchema]) -> ET.Element:
    for schema in schemas:
        schema.validate(str(path))
    return ET.parse(path).getroot()


def test_a_passing_python_solution_exits_0_with_full_points(
    stack: Stack, tmp_path: Path, schemas: list[xmlschema.XMLSchema]
) -> None:
    (tmp_path / "double.py").write_text(DOUBLE_PY)
    (tmp_path / "tests.yaml").write_text(SUITE_YAML)
    done = sentinel(
        "grade", "--tests", "tests.yaml", "double.py", "--junit", "out/junit.xml",
        server=stack.url, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["#", "test", "verdict", "time", "points"]
    assert "doubles five" in lines[2] and "accepted" in lines[2] and lines[2].endswith("2/2")
    assert "Points 5/5" in lines
    assert "FAILED" not in done.stdout
    root = _validate(tmp_path / "out" / "junit.xml", schemas)
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "0", "0")
    assert [c.get("name") for c in suite.iter("testcase")] == [
        "doubles two", "doubles five", "mentions 14", "two digits",
    ]  # fmt: skip


def test_a_failing_python_solution_exits_1_and_says_why(
    stack: Stack, tmp_path: Path, schemas: list[xmlschema.XMLSchema]
) -> None:
    (tmp_path / "wrong.py").write_text(WRONG_PY)
    (tmp_path / "tests.yaml").write_text(SUITE_YAML)
    done = sentinel(
        "grade", "--tests", "tests.yaml", "wrong.py", "--junit", "junit.xml",
        server=stack.url, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    # 5 -> 7 (server-judged), 7 -> 9 (judged here: included), 6 -> 8 (judged here: regex)
    assert "Points 1/5" in done.stdout
    assert "FAILED doubles five: expected '10' (trimmed), got '7\\n'" in done.stdout
    assert "FAILED mentions 14: expected '14' (included), got '9\\n'" in done.stdout
    assert "FAILED two digits:" in done.stdout
    root = _validate(tmp_path / "junit.xml", schemas)
    failures = {
        case.get("name"): failure.get("type")
        for case in root.iter("testcase")
        for failure in case.findall("failure")
    }
    assert failures == {
        "doubles five": "wrong_answer",
        "mentions 14": "wrong_answer",
        "two digits": "wrong_answer",
    }


def test_min_points_decides_the_exit_code(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "wrong.py").write_text(WRONG_PY)
    (tmp_path / "tests.yaml").write_text(SUITE_YAML)
    enough = sentinel(
        "grade", "--tests", "tests.yaml", "wrong.py", "--min-points", "1",
        server=stack.url, cwd=tmp_path,
    )  # fmt: skip
    assert enough.returncode == 0, enough.stdout
    short = sentinel(
        "grade", "--tests", "tests.yaml", "wrong.py", "--min-points", "1.5",
        server=stack.url, cwd=tmp_path,
    )  # fmt: skip
    assert short.returncode == 1


def test_a_runtime_error_is_not_judged_as_output(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "crash.py").write_text("print(14)\nraise SystemExit(3)\n")
    (tmp_path / "tests.json").write_text(
        json.dumps([{"name": "has 14", "input": "", "expected": "14", "comparison": "included"}])
    )
    done = sentinel("grade", "--tests", "tests.json", "crash.py", server=stack.url, cwd=tmp_path)
    assert done.returncode == 1
    assert "runtime_error" in done.stdout
    assert "FAILED has 14: runtime error (exit code 3)" in done.stdout


def test_a_compilation_error_exits_3_and_shows_the_compiler(
    stack: Stack, tmp_path: Path, schemas: list[xmlschema.XMLSchema]
) -> None:
    (tmp_path / "broken.py").write_text("print('unclosed'\n")
    (tmp_path / "tests.yaml").write_text(SUITE_YAML)
    done = sentinel(
        "grade", "--tests", "tests.yaml", "broken.py", "--junit", "junit.xml",
        server=stack.url, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3
    assert done.stdout.count("compilation_error") == 4
    assert "SyntaxError" in done.stdout
    assert "Points 0/5" in done.stdout
    root = _validate(tmp_path / "junit.xml", schemas)
    assert "SyntaxError" in (root.findtext("testsuite/system-err") or "")


def test_junit_stays_valid_whatever_the_program_prints(
    stack: Stack, tmp_path: Path, schemas: list[xmlschema.XMLSchema]
) -> None:
    (tmp_path / "noise.py").write_text(
        "import sys\nsys.stdout.write('\\x00\\x1b[31m<&]]>\\x07')\nsys.stderr.write('\\x01')\n"
    )
    (tmp_path / "tests.yaml").write_text('- name: "quiet <please> & \\u0002"\n  expected: ""\n')
    done = sentinel(
        "grade", "--tests", "tests.yaml", "noise.py", "--junit", "junit.xml",
        server=stack.url, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    root = _validate(tmp_path / "junit.xml", schemas)
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and "<&]]>" in (failure.text or "")


def test_the_github_classroom_example_grades_with_full_points(
    stack: Stack, tmp_path: Path, schemas: list[xmlschema.XMLSchema]
) -> None:
    config = tmp_path / ".github" / "classroom" / "autograding.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps(CLASSROOM, indent=2))
    (tmp_path / "hello.py").write_text(HELLO_PY)
    done = sentinel(
        "grade", "--tests", str(config), "hello.py", "--junit", "junit.xml",
        server=stack.url, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Points 6/6" in done.stdout
    _validate(tmp_path / "junit.xml", schemas)
    # Classroom's "exact" compares stripped texts: one missing greeting still fails it.
    (tmp_path / "hello.py").write_text("print('Hello World')\n")
    done = sentinel("grade", "--tests", str(config), "hello.py", server=stack.url, cwd=tmp_path)
    assert done.returncode == 1
    assert "Points 1/6" in done.stdout


@pytest.mark.parametrize(
    ("setup", "run", "refused"),
    [
        ("", "npm test", "npm test"),
        ("", "make test", "make test"),
        ("sudo -H pip3 install pytest", "pytest", "sudo -H pip3 install pytest"),
        ("", "python3 main.py < input.txt", "python3 main.py < input.txt"),
        ("", "node index.js", "node index.js"),
    ],
)
def test_classroom_commands_that_cannot_be_mapped_are_refused_by_name(
    tmp_path: Path, setup: str, run: str, refused: str
) -> None:
    tests = {"tests": [dict(CLASSROOM["tests"][0], name="Unit tests", setup=setup, run=run)]}
    (tmp_path / "autograding.json").write_text(json.dumps(tests))
    (tmp_path / "main.py").write_text(DOUBLE_PY)
    # Refused before any request: the server named here does not exist.
    done = sentinel(
        "grade", "--tests", "autograding.json", "main.py",
        server=f"http://127.0.0.1:{free_port()}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "test 'Unit tests'" in done.stderr
    assert repr(refused) in done.stderr


def test_inside_github_actions_it_annotates_and_writes_the_summary(
    stack: Stack, tmp_path: Path
) -> None:
    (tmp_path / "wrong.py").write_text(WRONG_PY)
    (tmp_path / "tests.yaml").write_text(SUITE_YAML)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier steps\n")
    done = sentinel(
        "grade", "--tests", "tests.yaml", "wrong.py", server=stack.url, cwd=tmp_path,
        env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert done.returncode == 1
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == 3
    assert errors[0].startswith("::error file=wrong.py,title=doubles five%3A wrong_answer::")
    assert "::notice file=wrong.py,title=Sentinel grade::Points 1/5" in done.stdout
    text = summary.read_text()
    assert text.startswith("earlier steps\n### Sentinel: tests: Points 1/5")
    assert "| 2 | doubles five | ❌ wrong_answer |" in text
    # Outside Actions: no workflow commands.
    plain = sentinel("grade", "--tests", "tests.yaml", "wrong.py", server=stack.url, cwd=tmp_path)
    assert "::error" not in plain.stdout


def test_grading_with_an_unreachable_server_exits_5(tmp_path: Path) -> None:
    (tmp_path / "double.py").write_text(DOUBLE_PY)
    (tmp_path / "tests.yaml").write_text(SUITE_YAML)
    url = f"http://127.0.0.1:{free_port()}"
    done = sentinel("grade", "--tests", "tests.yaml", "double.py", server=url, cwd=tmp_path)
    assert done.returncode == 5
    assert f"cannot reach Sentinel at {url}" in done.stderr


def test_a_suite_with_a_typo_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "double.py").write_text(DOUBLE_PY)
    (tmp_path / "tests.yaml").write_text("- name: t\n  input: '1'\n  expcted: '2'\n")
    done = sentinel(
        "grade", "--tests", "tests.yaml", "double.py",
        server=f"http://127.0.0.1:{free_port()}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "unknown keys ['expcted']" in done.stderr


def test_javascript_passing_and_failing(stack: Stack, tmp_path: Path) -> None:
    require_language(stack, "javascript")
    (tmp_path / "tests.yaml").write_text(SUITE_YAML)
    (tmp_path / "double.js").write_text(
        "const n = parseInt(require('fs').readFileSync(0, 'utf8'));\nconsole.log(n * 2);\n"
    )
    done = sentinel("grade", "--tests", "tests.yaml", "double.js", server=stack.url, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Points 5/5" in done.stdout
    (tmp_path / "wrong.js").write_text(
        "const n = parseInt(require('fs').readFileSync(0, 'utf8'));\n"
        "console.log(n < 4 ? n * 2 : n + 2);\n"
    )
    done = sentinel("grade", "--tests", "tests.yaml", "wrong.js", server=stack.url, cwd=tmp_path)
    assert done.returncode == 1
    assert "Points 1/5" in done.stdout
    classroom = {"tests": [dict(CLASSROOM["tests"][0], run="node index.js")]}
    (tmp_path / "autograding.json").write_text(json.dumps(classroom))
    (tmp_path / "index.js").write_text("console.log('Hello World');\n")
    done = sentinel(
        "grade", "--tests", "autograding.json", "index.js", server=stack.url, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr


PERMUTATION_SUITE = """\
checker: {language: python, file: checker.py}
tests:
- name: three
  input: "3 1 2"
  expected: "1 2 3"
- name: two, worth more
  input: "9 8"
  expected: "8 9"
  points: 3
"""
PERMUTATION_CHECKER = """import sentinel_checker
c = sentinel_checker.Checker()
given, out = sorted(c.input.rest()), sorted(c.output.rest())
if out != given:
    c.wrong("not a permutation of the input")
c.accept("a permutation")
"""


def test_a_suite_with_a_checker_program_is_judged_by_it(stack: Stack, tmp_path: Path) -> None:
    """Any permutation of the input is right (the expected answer is one of many): the checker
    program of the suite decides on the server, through the HTTP API."""
    (tmp_path / "checker.py").write_text(PERMUTATION_CHECKER)
    (tmp_path / "tests.yaml").write_text(PERMUTATION_SUITE)
    (tmp_path / "reverse.py").write_text("print(*reversed(input().split()))\n")
    (tmp_path / "same.py").write_text("print(input().split()[0])\n")
    done = sentinel(
        "grade", "--tests", "tests.yaml", "reverse.py", server=stack.url, cwd=tmp_path
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Points 4/4" in done.stdout.splitlines()
    failed = sentinel("grade", "--tests", "tests.yaml", "same.py", server=stack.url, cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "the checker says: 'not a permutation of the input'" in failed.stdout
    assert "Points 0/4" in failed.stdout.splitlines()


GUESSING_SUITE = """\
interactor: {language: python, file: interactor.py, transcript: true}
tests:
- name: low
  input: "3"
- name: high
  input: "999"
"""


def test_an_interactive_suite_is_judged_by_its_interactor(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "interactor.py").write_text(GUESSING_INTERACTOR)
    (tmp_path / "tests.yaml").write_text(GUESSING_SUITE)
    (tmp_path / "guess.py").write_text(BINARY_SEARCH_PY)
    (tmp_path / "linear.py").write_text(LINEAR_PY)
    done = sentinel("grade", "--tests", "tests.yaml", "guess.py", server=stack.url, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Points 2/2" in done.stdout.splitlines()
    failed = sentinel("grade", "--tests", "tests.yaml", "linear.py", server=stack.url, cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "the interactor says: 'too many queries'" in failed.stdout
