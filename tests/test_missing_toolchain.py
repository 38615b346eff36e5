"""A language that is configured (registry entry and trigger) but whose toolchain is not
installed is refused at submission with a 400 naming what is missing: never a job that fails
later. The operator's own registry comes in through SENTINEL_REGISTRY."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import Stack, running_stack

REPO = Path(__file__).resolve().parent.parent

COBOL = """
[cobol]
display_name = "COBOL"
description = "GnuCOBOL (not installed on this machine, on purpose)"
source_file = "main.cob"
version = ["/usr/bin/cobc-not-installed", "--version"]
compile = ["/usr/bin/cobc-not-installed", "-x", "-o", "main", "{source}"]
run = ["./main"]
packages = ["gnucobol4"]
"""


@pytest.fixture(scope="module")
def stack_with_cobol(
    redis_url: str, key_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("cobol")
    registry = data / "languages.toml"
    registry.write_text((REPO / "functions" / "languages.toml").read_text() + COBOL)
    docs = list(yaml.safe_load_all((REPO / "config" / "triggers.yaml").read_text()))
    route = next(d for d in docs if d["metadata"]["name"] == "execute-python")
    cobol = yaml.safe_load(yaml.safe_dump(route).replace("python", "cobol"))
    triggers = data / "triggers.yaml"
    triggers.write_text(yaml.safe_dump_all([*docs, cobol]))
    env = {"SENTINEL_REGISTRY": str(registry), "SENTINEL_TRIGGERS": str(triggers)}
    with running_stack(redis_url, f"{key_prefix}-cobol", data, env) as stack:
        yield stack


def test_a_configured_but_missing_toolchain_is_refused_with_its_package(
    stack_with_cobol: Stack,
) -> None:
    answer = requests.post(
        f"{stack_with_cobol.url}/api/execute",
        json={"language": "cobol", "code": "DISPLAY 'HI'."},
        timeout=10,
    )
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["field"] == "language"
    assert "not installed" in body["error"] and "gnucobol4" in body["error"]
    listed = requests.get(f"{stack_with_cobol.url}/languages", timeout=10).json()
    assert "cobol" not in {entry["name"] for entry in listed["languages"]}
    # The installed languages of the same executor still run.
    job = stack_with_cobol.run({"language": "python", "code": "print('still here')"})
    assert job["output"] == "still here\n"
