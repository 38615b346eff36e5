"""The Judge0 request model (ingress/judge0/request.py) answers in Judge0's words, field by field,
and translates to the Sentinel request as the hand-written validator it replaced did. No stack:
the model and ingress/judge0/translate.py are called directly."""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

import pytest

from ingress.catalog import ReportedLimits
from ingress.judge0 import translate
from ingress.settings import IngressSettings

LANGUAGES = {71: "python", 50: "c"}
SETTINGS = IngressSettings()
SANDBOX = ReportedLimits()
MAX_CPU = translate.config_limits(SANDBOX)["max_cpu_time_limit"]


def _parse(body: Any, base64_encoded: bool = False) -> Any:
    return translate.parse(body, base64_encoded, SETTINGS, SANDBOX, LANGUAGES)


def _errors(body: Any, base64_encoded: bool = False) -> dict[str, list[str]]:
    with pytest.raises(translate.Invalid) as refused:
        _parse(body, base64_encoded)
    return refused.value.errors


OK = {"source_code": "print(1)", "language_id": 71}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"source_code": ["can't be blank"], "language_id": ["can't be blank"]}),
        (
            {"source_code": "", "language_id": ""},
            {"source_code": ["can't be blank"], "language_id": ["can't be blank"]},
        ),
        ({"source_code": 5, "language_id": 71}, {"source_code": ["must be a string"]}),
        ({**OK, "language_id": "x"}, {"language_id": ["is not a number"]}),
        ({**OK, "language_id": 999}, {"language_id": ["language with id 999 doesn't exist"]}),
        ({**OK, "stdin": ["x"]}, {"stdin": ["must be a string"]}),
        ({**OK, "cpu_time_limit": "abc"}, {"cpu_time_limit": ["is not a number"]}),
        ({**OK, "cpu_time_limit": True}, {"cpu_time_limit": ["is not a number"]}),
        ({**OK, "cpu_time_limit": 0}, {"cpu_time_limit": ["must be greater than 0"]}),
        (
            {**OK, "cpu_time_limit": MAX_CPU + 1},
            {"cpu_time_limit": [f"must be less than or equal to {MAX_CPU:g}"]},
        ),
        ({**OK, "number_of_runs": 25}, {"number_of_runs": ["must be less than or equal to 20"]}),
        (
            {**OK, "redirect_stderr_to_stdout": "maybe"},
            {"redirect_stderr_to_stdout": ["is not a boolean"]},
        ),
        ({**OK, "enable_network": True}, {"enable_network": ["this option cannot be enabled"]}),
        (
            {**OK, "enable_per_process_and_thread_time_limit": "true"},
            {"enable_per_process_and_thread_time_limit": ["this option cannot be enabled"]},
        ),
        ({**OK, "command_line_arguments": 7}, {"command_line_arguments": ["must be a string"]}),
        (
            {**OK, "command_line_arguments": "a 'b"},
            {"command_line_arguments": ["is not valid: No closing quotation"]},
        ),
        (
            {**OK, "compiler_options": 3, "callback_url": []},
            {"compiler_options": ["must be a string"], "callback_url": ["must be a string"]},
        ),
        ({**OK, "additional_files": 5}, {"additional_files": ["must be a base64 string"]}),
        ("not an object", {"base": ["the submission must be a JSON object"]}),
    ],
)
def test_refusals_are_judge0s_words_by_field(body: Any, expected: dict[str, list[str]]) -> None:
    assert _errors(body) == expected


def test_every_failing_field_is_named_in_the_order_judge0_checks() -> None:
    errors = _errors({"language_id": "x", "memory_limit": -1, "enable_network": "true"})
    assert list(errors) == ["source_code", "language_id", "memory_limit", "enable_network"]


def test_a_valid_submission_translates_and_echoes() -> None:
    request, echo = _parse(
        {
            "source_code": "print(input())",
            "language_id": "71",
            "stdin": "x",
            "expected_output": "x",
            "cpu_time_limit": "1.5",
            "memory_limit": 128000,
            "stack_limit": "",
            "command_line_arguments": "a 'b c'",
            "redirect_stderr_to_stdout": "true",
            "number_of_runs": 2,
            "unknown_field": "ignored, as Judge0 does",
        }
    )
    assert request.language == "python"
    assert request.limits.cpu_time_ms == 1500 and request.limits.memory_mb == 125
    assert request.limits.stack_kb is None
    assert request.args == ["a", "b c"]
    assert request.redirect_stderr_to_stdout and request.number_of_runs == 2
    assert [(c.input, c.expected) for c in request.test_cases or []] == [("x", "x")]
    assert request.compare == "trimmed"
    assert echo["language_id"] == 71 and echo["cpu_time_limit"] == "1.5"
    assert echo["command_line_arguments"] == "a 'b c'" and echo["enable_network"] is False
    assert echo["stack_limit"] == translate.config_limits(SANDBOX)["stack_limit"]


def test_base64_texts_are_decoded_and_the_zip_unpacked() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as packed:
        packed.writestr("helper.py", "X = 1\n")

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    request, echo = _parse(
        {
            "source_code": b64("import helper\nprint(helper.X)"),
            "language_id": 71,
            "stdin": b64("in"),
            "additional_files": base64.b64encode(archive.getvalue()).decode(),
        },
        base64_encoded=True,
    )
    assert request.code == "import helper\nprint(helper.X)" and request.input == "in"
    files = [(f.name, f.encoding, base64.b64decode(f.content)) for f in request.files or []]
    assert files == [("helper.py", "base64", b"X = 1\n")]
    assert echo["source_code"] == request.code
    assert "additional_files" in _errors({**OK, "additional_files": "bm90IGEgemlw"})


@pytest.mark.parametrize("field", ["checker", "interactor"])
def test_sentinels_judges_are_refused_by_name_not_ignored(field: str) -> None:
    """Judge0 has no checker programs or interactors: a client that sends one is told (422),
    rather than believing its checker ran."""
    errors = _errors({**OK, field: {"language": "python", "code": "pass"}})
    assert errors == {field: ["is not part of the Judge0 API: use Sentinel's /api/execute"]}
