"""Test suites from files: Sentinel's own YAML/JSON list of cases, or GitHub Classroom's
`.github/classroom/autograding.json`.

Sentinel's format is a list of cases, or a mapping with `tests` and optional suite-wide
`comparison`, `limits` and `checker` (a checker program judges every case on the server,
functions/special_judge.py; its file and any extra `files` are paths beside the suite) or
`interactor` (an interactive problem: functions/interactive.py; `transcript: true` keeps the
exchange):

    checker: {language: cpp, file: checker.cpp, files: [testlib.h]}
    tests:

    - name: doubles five
      input: "5"
      expected: "10"
      comparison: trimmed     # trimmed (default) | exact | stripped | included | regex
      points: 2               # default 1

GitHub Classroom's format is `{"tests": [{name, setup, run, input, output, comparison,
timeout, points}]}`; a file is read as that format when its tests have a `run` command. Its
comparisons are applied as the classroom applies them: both texts stripped first, so its
"exact" is our "stripped". Unknown keys are refused: a misspelt `expected` would otherwise turn
a test into one that cannot fail.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sentinel import classroom
from sentinel.judging import DEFAULT_MODE, MODES, check_pattern

NATIVE_KEYS = frozenset({"name", "input", "expected", "comparison", "points"})
CLASSROOM_KEYS = frozenset(
    {"name", "setup", "run", "input", "output", "comparison", "timeout", "points"}
)
CLASSROOM_MODES = {"exact": "stripped", "included": "included", "regex": "regex"}
LIMIT_KEYS = frozenset({"cpuTimeMs", "wallTimeMs", "memoryMb", "outputKb"})


class SuiteError(ValueError):
    """A test suite file that cannot be used; the message names the file and the test."""


@dataclass(frozen=True)
class Case:
    """One test: what goes to stdin, what must come out (None: only a clean run is asked)."""

    name: str
    input: str
    expected: str | None
    mode: str
    points: float
    wall_time_ms: int | None = None


@dataclass(frozen=True)
class Suite:
    """The cases of one file, in order, and the limits every case runs under."""

    path: Path
    cases: tuple[Case, ...]
    classroom: bool = False
    limits: dict[str, int] = field(default_factory=dict)
    # The checker program as the API takes it ({"language", "code", "files"}), or None.
    checker: dict[str, Any] | None = None
    # An interactive problem's interactor, the same way (and "transcript"), or None.
    interactor: dict[str, Any] | None = None

    @property
    def max_points(self) -> float:
        """What a submission passing every case scores."""
        return sum(c.points for c in self.cases)


def load(path: Path, language: str) -> Suite:
    """Read and check the suite at `path` for a submission in `language`."""
    data = _parse(path)
    if isinstance(data, list):
        return _native(path, data, {})
    if isinstance(data, dict) and isinstance(data.get("tests"), list):
        tests = data["tests"]
        if any(isinstance(t, dict) and "run" in t for t in tests):
            return _classroom(path, data, language)
        return _native(path, tests, data)
    raise SuiteError(
        f"{path}: expected a list of test cases, or a mapping with a `tests` list "
        "(GitHub Classroom's autograding.json)"
    )


def _parse(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"cannot read test suite {path}: {exc}") from exc
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise SuiteError(f"{path} is not valid {_format_name(path)}: {exc}") from exc


def _format_name(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "YAML"


def _native(path: Path, tests: list[Any], suite: dict[str, Any]) -> Suite:
    unknown = set(suite) - {"tests", "comparison", "limits", "checker", "interactor"}
    if unknown:
        raise SuiteError(f"{path}: unknown suite keys {sorted(unknown)}")
    if "checker" in suite and "interactor" in suite:
        raise SuiteError(f"{path}: a suite has a checker or an interactor, not both")
    default_mode = _mode(path, "suite", suite.get("comparison", DEFAULT_MODE), MODES)
    limits = _limits(path, suite.get("limits") or {})
    checker = _program(path, "checker", suite["checker"]) if "checker" in suite else None
    interactor = (
        _program(path, "interactor", suite["interactor"]) if "interactor" in suite else None
    )
    cases = []
    for index, entry in enumerate(tests, 1):
        name = _name(path, index, entry, NATIVE_KEYS)
        expected = entry.get("expected")
        mode = _mode(path, name, entry.get("comparison", default_mode), MODES)
        cases.append(
            Case(
                name=name,
                input=_text(path, name, "input", entry.get("input", "")),
                expected=None if expected is None else _text(path, name, "expected", expected),
                mode=mode,
                points=_points(path, name, entry.get("points", 1)),
            )
        )
    suite_of = Suite(path, tuple(cases), False, limits, checker=checker, interactor=interactor)
    return _checked(suite_of)


def _program(path: Path, role: str, entry: Any) -> dict[str, Any]:
    """The suite's checker or interactor: its language and source file, and extra files, read
    from beside the suite file."""
    keys = {"language", "file", "files"} | ({"transcript"} if role == "interactor" else set())
    if not isinstance(entry, dict) or set(entry) - keys or not {"language", "file"} <= set(entry):
        raise SuiteError(f"{path}: {role} must be a mapping of {', '.join(sorted(keys))}")
    extra = entry.get("files") or []
    if not isinstance(extra, list) or not all(isinstance(name, str) for name in extra):
        raise SuiteError(f"{path}: {role}.files must be a list of file names")

    def read(name: str) -> str:
        try:
            return (path.parent / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SuiteError(f"{path}: cannot read the {role}'s {name}: {exc}") from exc

    program: dict[str, Any] = {"language": str(entry["language"]), "code": read(str(entry["file"]))}
    if extra:
        program["files"] = [{"name": Path(name).name, "content": read(name)} for name in extra]
    if entry.get("transcript"):
        program["transcript"] = True
    return program


def _classroom(path: Path, data: dict[str, Any], language: str) -> Suite:
    cases = []
    for index, entry in enumerate(data["tests"], 1):
        name = _name(path, index, entry, CLASSROOM_KEYS)
        try:
            classroom.check(
                name, str(entry.get("setup") or ""), str(entry.get("run") or ""), language
            )
        except classroom.CommandRefused as exc:
            raise SuiteError(f"{path}: {exc}") from exc
        mode = _mode(path, name, entry.get("comparison") or "included", CLASSROOM_MODES)
        timeout = entry.get("timeout")
        if timeout is not None and (not _is_number(timeout) or timeout <= 0):
            raise SuiteError(f"{path}: test {name!r}: timeout must be a positive number of minutes")
        cases.append(
            Case(
                name=name,
                input=_text(path, name, "input", entry.get("input") or ""),
                expected=_text(path, name, "output", entry.get("output") or ""),
                mode=CLASSROOM_MODES[mode],
                points=_points(path, name, entry.get("points", 1)),
                wall_time_ms=None if timeout is None else int(timeout * 60_000),
            )
        )
    return _checked(Suite(path, tuple(cases), classroom=True))


def _checked(suite: Suite) -> Suite:
    if not suite.cases:
        raise SuiteError(f"{suite.path}: the suite has no tests")
    for case in suite.cases:
        problem = case.expected is not None and check_pattern(case.mode, case.expected)
        if problem:
            raise SuiteError(f"{suite.path}: test {case.name!r}: {problem}")
    return suite


def _name(path: Path, index: int, entry: Any, allowed: frozenset[str]) -> str:
    if not isinstance(entry, dict):
        raise SuiteError(f"{path}: test #{index} must be a mapping, not {type(entry).__name__}")
    name = str(entry.get("name") or f"test {index}")
    unknown = set(entry) - allowed
    if unknown:
        raise SuiteError(
            f"{path}: test {name!r}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    return name


def _mode(path: Path, name: str, value: Any, allowed: Any) -> str:
    if value not in allowed:
        where = "suite" if name == "suite" else f"test {name!r}"
        raise SuiteError(
            f"{path}: {where}: comparison {value!r} is not one of {', '.join(sorted(allowed))}"
        )
    return str(value)


def _text(path: Path, name: str, key: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SuiteError(f"{path}: test {name!r}: {key} must be text")
    return str(value)


def _points(path: Path, name: str, value: Any) -> float:
    if not _is_number(value) or value < 0:
        raise SuiteError(f"{path}: test {name!r}: points must be a number >= 0")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _limits(path: Path, limits: Any) -> dict[str, int]:
    if not isinstance(limits, dict) or set(limits) - LIMIT_KEYS:
        raise SuiteError(f"{path}: limits must be a mapping of {', '.join(sorted(LIMIT_KEYS))}")
    for key, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise SuiteError(f"{path}: limits.{key} must be a positive integer")
    return dict(limits)
