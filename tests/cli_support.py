"""Running the `sentinel` command as users do: a real subprocess, against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import Stack

# Variables of the CI the tests may be running in, which would change what the CLI prints.
CI_VARIABLES = ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "SENTINEL_URL", "SENTINEL_API_KEY")


def sentinel(
    *args: str,
    server: str | None,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m sentinel.cli ARGS` with SENTINEL_URL=`server`; output captured as text."""
    environment = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    if server is not None:
        environment["SENTINEL_URL"] = server
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "sentinel.cli", *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def require_language(stack: Stack, language: str) -> None:
    """Skip, saying why, only when the server really does not run `language`."""
    answer = requests.get(f"{stack.url}/languages", timeout=10)
    answer.raise_for_status()
    served = [entry["name"] for entry in answer.json()["languages"]]
    if language not in served:
        pytest.skip(f"this Sentinel does not run {language} yet (GET /languages: {served})")
