"""The Piston request model (ingress/piston/request.py) refuses in Piston's sentences, the first
problem only, and translates to the Sentinel request as the hand-written checks it replaced did.
No stack: ingress/piston/translate.py is called directly."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ingress.catalog import ReportedLimits
from ingress.piston import translate
from ingress.piston.runtimes import Runtime

PYTHON = Runtime("python", "python", "3.11.2", ("py",), None)
SANDBOX = ReportedLimits()
MAIN = [{"content": "print(1)"}]


def _parse(body: dict[str, Any]) -> Any:
    return translate.parse({"language": "python", "version": "*", **body}, PYTHON, SANDBOX)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "files is required as an array"),
        ({"files": []}, "files is required as an array"),
        ({"files": [5]}, "files[0] must be an object"),
        ({"files": [{}]}, "files[0].content is required as a string"),
        (
            {"files": [{"content": "x", "encoding": "ucs2"}]},
            "files[0].encoding must be one of base64, hex or utf8",
        ),
        (
            {"files": [{"content": "!!", "encoding": "base64"}]},
            "files[0].content is not valid base64",
        ),
        ({"files": [{"content": "zz", "encoding": "hex"}]}, "files[0].content is not valid hex"),
        (
            {"files": [{"content": base64.b64encode(b"\xff").decode(), "encoding": "base64"}]},
            "files[0] (the entry point) must decode to UTF-8 text",
        ),
        ({"files": [*MAIN, {"content": "x", "name": 5}]}, "files[1].name must be a string"),
        ({"files": MAIN, "stdin": None}, "stdin must be a string"),
        ({"files": MAIN, "args": ["a", 1]}, "args must be an array of strings"),
        ({"files": MAIN, "run_timeout": "5"}, "run_timeout must be a number"),
        ({"files": MAIN, "run_timeout": -2}, "run_timeout must be a non-negative number or -1"),
        (
            {"files": MAIN, "run_timeout": 10**9},
            f"run_timeout cannot exceed the configured limit of {SANDBOX.max_wall_ms}",
        ),
        # Sentinel's judges are refused by name (Piston has none), not ignored.
        (
            {"files": MAIN, "checker": {"language": "python", "code": "pass"}},
            "checker is not part of the Piston API: use Sentinel's /api/execute",
        ),
        (
            {"files": MAIN, "interactor": {"language": "python", "code": "pass"}},
            "interactor is not part of the Piston API: use Sentinel's /api/execute",
        ),
        # The first problem only, in the order the fields are checked.
        ({"files": MAIN, "stdin": 5, "args": "x", "run_timeout": "a"}, "stdin must be a string"),
    ],
)
def test_refusals_are_pistons_sentences(body: dict[str, Any], message: str) -> None:
    with pytest.raises(translate.PistonError) as refused:
        _parse(body)
    assert (refused.value.message, refused.value.status) == (message, 400)


def test_a_valid_request_translates() -> None:
    request = _parse(
        {
            "files": [
                {
                    "content": base64.b64encode(b"print(open('d.bin').read())").decode(),
                    "encoding": "base64",
                },
                {"content": "6869", "encoding": "hex", "name": "d.bin"},
                {"content": "x"},
            ],
            "stdin": "in",
            "args": ["a"],
            "run_timeout": 3000,
            "run_memory_limit": 100 * 1024 * 1024,
            "compile_cpu_time": -1,
        }
    )
    assert request.code == "print(open('d.bin').read())" and request.input == "in"
    assert [(f.name, f.encoding, f.content) for f in request.files or []] == [
        ("d.bin", "base64", base64.b64encode(b"hi").decode()),
        ("file2", "utf8", "x"),
    ]
    assert request.args == ["a"]
    assert (request.limits.wall_time_ms, request.limits.memory_mb) == (3000, 100)
    assert request.limits.compile_cpu_time_ms is None
