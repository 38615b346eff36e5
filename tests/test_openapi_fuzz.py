"""Schemathesis against GET /openapi.json: generated requests (valid and not) to every operation
find no 5xx, and every answer matches the documented status codes, content types and schemas.

Bounded (a few examples per operation) so it takes well under a minute or two; the seed is
random, and printed on failure so a finding can be replayed with `--seed`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Stack

CHECKS = (
    "not_a_server_error,response_schema_conformance,status_code_conformance,"
    "content_type_conformance"
)


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_or_schema_violation(stack: Stack) -> None:
    cli = Path(sys.executable).with_name("schemathesis")
    command = str(cli) if cli.exists() else shutil.which("schemathesis")
    assert command, "schemathesis is not installed (pip install -e '.[test]')"
    run = subprocess.run(
        [
            command,
            "run",
            f"{stack.url}/openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            "15",
            "--workers",
            "2",
            "--request-timeout",
            "40",
            "--phases",
            "examples,coverage,fuzzing",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
