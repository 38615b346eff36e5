"""The Piston v2 surface (/api/v2): every language both systems have runs a program in the
manner of Piston's package tests (it prints OK when the runtime behaves), and requests and
responses have the fields and types Piston's v2 API documentation lists
(api-v2.md in engineer-man/piston). Real HTTP, real `stack`; the refusals, which no executor
answers, in-process (`api`, tests/conftest.py)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from ingress.piston.runtimes import PISTON_NAMES, matches
from tests.conftest import Stack

# Piston language name -> a program that prints OK (Piston's packages/<lang>/<v>/test.*).
# Each does a little work first, so a runtime that starts but misbehaves does not pass.
OK_PROGRAMS: dict[str, str] = {
    "python": "print('OK' if sum(range(5)) == 10 else 'bad')",
    "javascript": "console.log([1, 2, 3].reduce((a, b) => a + b) === 6 ? 'OK' : 'bad')",
    "typescript": "const n: number = [1, 2, 3].length;\nconsole.log(n === 3 ? 'OK' : 'bad');",
    "java": "public class Test { public static void main(String[] a) {"
    ' System.out.println("OK".length() == 2 ? "OK" : "bad"); } }',
    "c++": "#include <iostream>\n#include <vector>\nint main() { std::vector<int> v{1, 2};"
    ' std::cout << (v.size() == 2 ? "OK" : "bad") << std::endl; }',
    "c": '#include <stdio.h>\nint main(void) { printf("%s\\n", 1 + 1 == 2 ? "OK" : "bad");'
    " return 0; }",
    "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("OK") }',
    "rust": 'fn main() { let v = vec![1, 2]; println!("{}", if v.len() == 2 { "OK" } else'
    ' { "bad" }); }',
    "ruby": "puts [1, 2].sum == 3 ? 'OK' : 'bad'",
    "php": '<?php\necho count([1, 2]) === 2 ? "OK\\n" : "bad\\n";',
    "bash": 'x=$((1 + 1))\n[ "$x" = 2 ] && echo OK',
    "lua": "print(#{1, 2} == 2 and 'OK' or 'bad')",
    "perl": 'print((1 + 1 == 2) ? "OK\\n" : "bad\\n");',
    "kotlin": 'fun main() { println(if (listOf(1, 2).size == 2) "OK" else "bad") }',
    "csharp": "using System;\npublic class Test { public static void Main() {"
    ' Console.WriteLine("OK"); } }',
    "rscript": "cat(if (sum(1:2) == 3) 'OK' else 'bad', '\\n', sep = '')",
    "sqlite3": "SELECT 'OK';",
    "haskell": 'main :: IO ()\nmain = putStrLn (if length [1, 2] == 2 then "OK" else "bad")',
    "pascal": "program Test;\nbegin\n  writeln('OK');\nend.",
    "fortran": "program test\n  print '(A)', 'OK'\nend program test",
}


def _runtimes(stack: Stack) -> list[dict[str, Any]]:
    answer = requests.get(f"{stack.url}/api/v2/runtimes", timeout=10)
    assert answer.status_code == 200
    return list(answer.json())


def _execute(stack: Stack, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{stack.url}/api/v2/execute", json=body, timeout=120)


def _is_stage(stage: Any) -> None:
    """The fields Piston's API documentation lists for a stage, and the types Piston gives them."""
    assert isinstance(stage, dict)
    for key in ("stdout", "stderr", "output"):
        assert isinstance(stage[key], str), key
    assert stage["code"] is None or isinstance(stage["code"], int)
    assert stage["signal"] is None or isinstance(stage["signal"], str)
    assert (stage["code"] is None) != (stage["signal"] is None) or stage["status"] is not None
    assert stage["status"] in (None, "RE", "SG", "TO", "OL", "EL", "XX")
    assert stage["message"] is None or isinstance(stage["message"], str)
    for key in ("cpu_time", "wall_time", "memory"):
        assert isinstance(stage[key], int) and stage[key] >= 0, key


@pytest.mark.parametrize("language", sorted(OK_PROGRAMS))
def test_every_shared_language_runs_pistons_ok_program(stack: Stack, language: str) -> None:
    served = {r["language"]: r for r in _runtimes(stack)}
    if language not in served:
        pytest.skip(f"this Sentinel does not serve {language} (yet)")
    body = {
        "language": language,
        "version": served[language]["version"],
        "files": [{"content": OK_PROGRAMS[language]}],
    }
    answer = _execute(stack, body)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["language"] == language and got["version"] == served[language]["version"]
    _is_stage(got["run"])
    assert got["run"]["stdout"].strip() == "OK", got
    assert got["run"]["code"] == 0 and got["run"]["signal"] is None
    if "compile" in got:
        _is_stage(got["compile"])
        assert got["compile"]["code"] == 0


def test_every_served_language_piston_has_is_covered(stack: Stack) -> None:
    """A language Sentinel gains that Piston also has needs its OK program above."""
    piston_has = {name for name, _, _ in PISTON_NAMES.values()}
    served = {r["language"] for r in _runtimes(stack)}
    assert {"python", "c++", "java"} <= served
    assert not (served & piston_has) - set(OK_PROGRAMS)


def test_runtimes_have_the_documented_fields(stack: Stack) -> None:
    for runtime in _runtimes(stack):
        assert set(runtime) <= {"language", "version", "aliases", "runtime"}
        assert isinstance(runtime["language"], str) and isinstance(runtime["version"], str)
        assert all(part.isdigit() for part in runtime["version"].split("."))
        assert isinstance(runtime["aliases"], list)
        assert all(isinstance(alias, str) for alias in runtime["aliases"])
        assert isinstance(runtime.get("runtime", ""), str)
    by_name = {r["language"]: r for r in _runtimes(stack)}
    assert "cpp" in by_name["c++"]["aliases"] and by_name["javascript"]["runtime"] == "node"


def test_the_documented_request_fields_are_all_accepted(stack: Stack) -> None:
    """Every request field of Piston's API documentation at once; the answer has every
    response field."""
    body = {
        "language": "py",
        "version": "3.x",
        "files": [
            {"name": "main.py", "content": "print(open('a.txt').read() + open('b.txt').read()"
             " + input())"},
            {"name": "a.txt", "content": base64.b64encode(b"O").decode(), "encoding": "base64"},
            {"name": "b.txt", "content": b"K".hex(), "encoding": "hex"},
        ],
        "stdin": "!",
        "args": [],
        "compile_timeout": 10000,
        "run_timeout": 3000,
        "compile_cpu_time": 10000,
        "run_cpu_time": 3000,
        "compile_memory_limit": -1,
        "run_memory_limit": 256 * 1024 * 1024,
    }  # fmt: skip
    answer = _execute(stack, body)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert set(got) == {"language", "version", "run"}  # Python has no compile stage in Piston
    assert got["language"] == "python"
    _is_stage(got["run"])
    assert got["run"]["stdout"] == "OK!\n" and got["run"]["output"] == "OK!\n"
    assert got["run"]["memory"] > 0


def test_compiled_languages_report_their_compile_stage(stack: Stack) -> None:
    good = _execute(
        stack,
        {"language": "c++", "version": "*", "files": [{"content": "int main() { return 4; }"}]},
    ).json()
    assert set(good) == {"language", "version", "run", "compile"}
    _is_stage(good["compile"])
    assert good["compile"]["code"] == 0
    assert good["run"]["code"] == 4 and good["run"]["status"] == "RE"
    bad = _execute(
        stack, {"language": "cpp", "version": "*", "files": [{"content": "int main() {"}]}
    ).json()
    _is_stage(bad["compile"])
    assert bad["compile"]["code"] != 0 and "error" in bad["compile"]["output"]
    assert bad["run"]["stdout"] == "" and bad["run"]["code"] is None


@pytest.mark.parametrize(
    ("source", "status", "signal"),
    [
        ("while True: pass", "TO", None),
        ("import os\nos.kill(os.getpid(), 11)", "SG", "SIGSEGV"),
        ("raise SystemExit(2)", "RE", None),
        ("import sys\nsys.stdout.write('x' * (8 * 1024 * 1024))", "OL", None),
    ],
)
def test_run_statuses_are_pistons(
    stack: Stack, source: str, status: str, signal: str | None
) -> None:
    body = {
        "language": "python",
        "version": "*",
        "files": [{"content": source}],
        "run_timeout": 2000,
        "run_cpu_time": 1000,
    }
    run = _execute(stack, body).json()["run"]
    _is_stage(run)
    assert run["status"] == status, run
    if signal:
        assert run["signal"] == signal and run["code"] is None
    if status == "RE":
        assert run["code"] == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": "9.9.9"}, "python-9.9.9 runtime is unknown"),
        ({"language": "brainfudge"}, "brainfudge-* runtime is unknown"),
        ({"files": []}, "files is required as an array"),
        ({"run_timeout": 10**9}, "run_timeout cannot exceed the configured limit of 30000"),
        ({"run_memory_limit": "lots"}, "run_memory_limit must be a number"),
        ({"files": [{"content": "zz", "encoding": "hex"}]}, "files[0].content is not valid hex"),
    ],
)
def test_bad_requests_get_pistons_400(
    api: FlaskClient, change: dict[str, Any], message: str
) -> None:
    body = {"language": "python", "version": "*", "files": [{"content": "print(1)"}], **change}
    answer = api.post("/api/v2/execute", json=body)
    assert answer.status_code == 400
    assert answer.json == {"message": message}


def test_args_reach_the_program(stack: Stack) -> None:
    body = {
        "language": "python",
        "version": "*",
        "files": [{"content": "import sys\nprint(sys.argv[1:])"}],
        "args": ["1", "two words"],
    }
    assert _execute(stack, body).json()["run"]["stdout"] == "['1', 'two words']\n"


@pytest.mark.parametrize(
    ("selector", "version", "expected"),
    [
        ("^0.2", "0.3.0", False),  # the old matcher's bug: ^0.x pins the minor, as npm does
        ("^0.2", "0.2.9", True),
        ("^0.0.3", "0.0.4", False),
        ("^3", "3.11.2", True),
        ("^3.11", "4.0.0", False),
        ("~3.11", "3.11.9", True),
        ("~3.11", "3.12.0", False),
        ("3.11.x", "3.11.2", True),
        ("3", "3.11.2", True),
        ("3.10", "3.11.2", False),
        ("3.11.2", "3.11.2", True),
        (">=3.10 <3.12", "3.11.2", True),
        ("*", "1.0.0", True),
        ("latest", "1.0.0", True),
        ("not-a-range", "1.0.0", False),
    ],
)
def test_version_selectors_are_npm_ranges(selector: str, version: str, expected: bool) -> None:
    """Piston matches `version` with node-semver's satisfies; so does Sentinel (semantic_version's
    NpmSpec), where the hand-written matcher took ^0.2 for >=0.2.0 <1.0.0."""
    assert matches(selector, version) is expected
