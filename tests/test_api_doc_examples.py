"""The judging examples of docs/api.md, sent as they are written there, through the started
service: what a newcomer pastes is what works."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Stack

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
_EXAMPLE = re.compile(
    r"curl -s -X POST 'localhost:8080/api/execute\?wait=true'.*?-d '(\{.*?\})'\n```", re.S
)


def examples() -> dict[str, dict[str, Any]]:
    """The waiting examples that carry a checker or an interactor, by which one."""
    found = {}
    for body in _EXAMPLE.findall(DOC.read_text()):
        parsed = json.loads(body)
        for judge in ("checker", "interactor"):
            if judge in parsed:
                found[judge] = parsed
    return found


def test_the_doc_has_both_examples() -> None:
    assert set(examples()) == {"checker", "interactor"}


@pytest.mark.parametrize("judge", ["checker", "interactor"])
def test_the_docs_example_is_accepted(stack: Stack, judge: str) -> None:
    answer = requests.post(
        f"{stack.url}/api/execute?wait=true", json=examples()[judge], headers=stack.headers,
        timeout=120,
    )  # fmt: skip
    job = answer.json()
    assert (answer.status_code, job.get("verdict")) == (200, "accepted"), job
    cases = job["testCases"]
    if judge == "checker":
        assert [case["message"] for case in cases] == ["a permutation"], cases
    else:
        assert all("interactor" in case for case in cases), cases
        assert cases[0]["transcript"].splitlines()[:2] == ["> 500", "< <"], cases
