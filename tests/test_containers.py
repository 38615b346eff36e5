"""containers/: every Dockerfile builds from the repository root and runs non-root, checked
statically (no container engine here), and each image the manifests name has its Dockerfile."""

from __future__ import annotations

from pathlib import Path

import dockerfile_checks
import pytest
import sentinel_rules
from dockerfile_parse import DockerfileParser
from test_manifests import render

REPO = Path(__file__).resolve().parent.parent
DOCKERFILES = sorted((REPO / "containers").glob("*/Dockerfile"))
LANGUAGES = [
    "python",
    "javascript",
    "java",
    "cpp",
    "go",
    "c",
    "typescript",
    "rust",
    "ruby",
    "php",
    "bash",
    "lua",
    "perl",
    "csharp",
    "sqlite3",
    "pascal",
    "fortran",
]


def test_one_dockerfile_per_service_and_language() -> None:
    names = {path.parent.name for path in DOCKERFILES}
    services = {"ingress", "sink", "dispatcher", "broker-ingress", "callbacks"}
    assert names == services | {f"executor-{lang}" for lang in LANGUAGES}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_is_buildable_and_non_root(dockerfile: Path) -> None:
    assert dockerfile_checks.problems(dockerfile, REPO) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_executor_image_has_the_sandbox_and_serves_its_language(language: str) -> None:
    parser = DockerfileParser(path=str(REPO / "containers" / f"executor-{language}" / "Dockerfile"))
    assert parser.envs["SENTINEL_LANGUAGES"] == language
    runs = [i["value"] for i in parser.structure if i["instruction"] == "RUN"]
    assert any("bubblewrap=" in run for run in runs)


def test_every_image_in_the_manifests_has_a_dockerfile() -> None:
    images = {
        container["image"]
        for template in sentinel_rules.pod_templates(render("base")).values()
        for container in template["spec"]["containers"]
        if container["image"].startswith("sentinel/")
    }
    assert images == {f"sentinel/{path.parent.name}" for path in DOCKERFILES}


def test_dockerignore_keeps_the_package_and_drops_the_rest() -> None:
    patterns = dockerfile_checks.dockerignore(REPO)
    for kept in ("pyproject.toml", "README.md", "eventing/contract.py", "functions/languages.toml"):
        assert not dockerfile_checks.ignored(kept, patterns), kept
    for dropped in (".git", "tests/test_manifests.py", "eventing/__pycache__/x.pyc", "var/redis"):
        assert dockerfile_checks.ignored(dropped, patterns), dropped
    assert not dockerfile_checks.ignored("tests/x", [*patterns, "!tests"])


GOOD = """FROM debian:12.12-slim AS build
COPY pyproject.toml README.md ./
FROM debian:12.12-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3=3.11.2-1+b1
COPY --from=build /opt/sentinel /opt/sentinel
USER 10001:10001
ENTRYPOINT ["python", "-m", "ingress"]
"""
BROKEN = {
    "does not exist in the build context": ("COPY pyproject.toml", "COPY no-such-file.toml"),
    "excluded by .dockerignore": ("COPY pyproject.toml README.md", "COPY tests"),
    "is not the non-root uid": ("USER 10001:10001", "USER root"),
    "has no USER": ("USER 10001:10001\n", ""),
    "is not pinned to a versioned tag": ("FROM debian:12.12-slim\n", "FROM debian:latest\n"),
    "not pinned (name=version)": ("python3=3.11.2-1+b1", "python3 bubblewrap"),
    "does not exist in the repository": ('"ingress"]', '"ingress.nothing"]'),
    "not in exec (JSON) form": ('["python", "-m", "ingress"]', "python -m ingress"),
}


def test_a_good_dockerfile_passes(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(GOOD)
    assert dockerfile_checks.problems(tmp_path / "Dockerfile", REPO) == []


@pytest.mark.parametrize("expected", sorted(BROKEN))
def test_a_broken_dockerfile_is_refused(tmp_path: Path, expected: str) -> None:
    old, new = BROKEN[expected]
    assert old in GOOD
    (tmp_path / "Dockerfile").write_text(GOOD.replace(old, new, 1))
    found = dockerfile_checks.problems(tmp_path / "Dockerfile", REPO)
    assert any(expected in problem for problem in found), found
