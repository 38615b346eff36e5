"""containers/: every Dockerfile builds from the repository root and runs non-root, checked
statically (no container engine here), and each image the manifests name has its Dockerfile.

The services and executors start FROM sentinel/base (containers/base/Dockerfile, built first).
Such an image is checked as what a build makes of it: the base's instructions followed by its
own, so the base's COPY sources and pins count, and its own final USER and ENTRYPOINT decide.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import dockerfile_checks
import pytest
import sentinel_rules
from dockerfile_parse import DockerfileParser
from test_manifests import LANGUAGES, render

REPO = Path(__file__).resolve().parent.parent
CONTAINERS = REPO / "containers"
DOCKERFILES = sorted(CONTAINERS.glob("*/Dockerfile"))
# What the manifests run: every image but the base.
IMAGES = [path for path in DOCKERFILES if path.parent.name != "base"]
# The images built in this repository that others may start FROM: name -> folder in containers/.
# Named under localhost/ so that a build without the base built first fails instead of pulling
# a stranger's image of the same name from a public registry.
LOCAL_BASES = {"localhost/sentinel/base": "base"}


def _from_images(parser: DockerfileParser) -> list[tuple[dict[str, str | int], str]]:
    """Each FROM instruction with its image, ARGs declared before the first FROM substituted
    by their defaults (what `docker build` without --build-arg uses)."""
    defaults: dict[str, str] = {}
    found: list[tuple[dict[str, str | int], str]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "ARG" and not found:
            name, _, default = str(instruction["value"]).partition("=")
            if default:
                defaults[name.strip()] = default.strip()
        elif instruction["instruction"] == "FROM":
            image = str(instruction["value"]).split()[0]
            image = re.sub(
                r"\$\{(\w+)\}|\$(\w+)",
                lambda m: defaults.get(m[1] or m[2], m[0]),
                image,
            )
            found.append((instruction, image))
    return found


def image_problems(dockerfile: Path, containers: Path = CONTAINERS) -> list[str]:
    """Everything wrong with `dockerfile` (context: the repository root). A stage FROM a local
    base (LOCAL_BASES) is checked with the base's Dockerfile from `containers` in front of it;
    any other image under sentinel/, or a FROM that keeps an unresolved $VARIABLE, is refused."""
    parser = DockerfileParser(path=str(dockerfile))
    found: list[str] = []
    local: dict[int, str] = {}  # startline of a FROM -> its local base's Dockerfile
    for instruction, image in _from_images(parser):
        name = image.split("@")[0]
        if ":" in name.rpartition("/")[2]:
            name = name.rpartition(":")[0]  # the tag off, a registry's :port kept
        if "$" in image:
            found.append(f"base image {image} names an ARG with no default")
        elif name in LOCAL_BASES:
            base = containers / LOCAL_BASES[name] / "Dockerfile"
            if base.is_file():
                local[int(instruction["startline"])] = base.read_text()
            else:
                found.append(f"base image {image} is not built in this repository (no {base})")
        elif name.startswith(("sentinel/", "localhost/sentinel/")):
            found.append(f"base image {image} is not built in this repository")
    if found:
        return found
    if not local:
        return dockerfile_checks.problems(dockerfile, REPO)
    lines: list[str] = []
    seen_from = False
    for instruction in parser.structure:
        keyword, content = instruction["instruction"], str(instruction["content"])
        if keyword == "ARG" and not seen_from:
            continue  # the ARGs in front of FROM have been substituted
        if keyword == "FROM":
            seen_from = True
            base = local.get(int(instruction["startline"]))
            if base is not None:
                stage = f"local-base-{len(lines)}"
                head, _, tail = base.rpartition("\nFROM ")
                final = tail.split("\n", 1)
                lines += [head, f"\nFROM {final[0]} AS {stage}\n", *final[1:], f"\nFROM {stage}\n"]
                continue
        lines.append(content)
    with tempfile.TemporaryDirectory() as tmp:
        merged = Path(tmp) / "Dockerfile"
        merged.write_text("".join(lines))
        return dockerfile_checks.problems(merged, REPO)


def test_one_dockerfile_per_service_and_language_and_the_base() -> None:
    names = {path.parent.name for path in DOCKERFILES}
    services = {"ingress", "sink", "dispatcher", "broker-ingress", "callbacks"}
    assert names == {"base"} | services | {f"executor-{lang}" for lang in LANGUAGES}


def test_the_base_is_buildable_and_non_root_and_runs_nothing_itself() -> None:
    assert dockerfile_checks.problems(CONTAINERS / "base" / "Dockerfile", REPO) == ["no ENTRYPOINT"]


@pytest.mark.parametrize("dockerfile", IMAGES, ids=lambda p: p.parent.name)
def test_dockerfile_is_buildable_and_non_root(dockerfile: Path) -> None:
    assert image_problems(dockerfile) == []


@pytest.mark.parametrize("dockerfile", IMAGES, ids=lambda p: p.parent.name)
def test_each_image_starts_from_the_base_built_here(dockerfile: Path) -> None:
    images = [image for _, image in _from_images(DockerfileParser(path=str(dockerfile)))]
    assert images == ["localhost/sentinel/base:latest"]


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
    assert images == {f"sentinel/{path.parent.name}" for path in IMAGES}


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


CHILD = """ARG BASE=localhost/sentinel/base:latest
FROM ${BASE}
USER root
RUN apt-get update \\
 && apt-get install -y --no-install-recommends ca-certificates=20250419~deb12u2
USER 10001:10001
ENTRYPOINT ["python", "-m", "ingress"]
"""
BROKEN_CHILD = {
    "is not built in this repository": (
        "localhost/sentinel/base:latest",
        "localhost/sentinel/nothing:latest",
    ),
    "names an ARG with no default": ("BASE=localhost/sentinel/base:latest", "BASE"),
    "sentinel/ingress:latest is not built in this repository": ("base:latest", "ingress:latest"),
    # The base ends with USER 10001, but the image's own last USER is what runs.
    "USER root is not the non-root uid": ("USER 10001:10001\n", ""),
    "not pinned (name=version)": ("ca-certificates=20250419~deb12u2", "ca-certificates"),
    "no ENTRYPOINT": ('ENTRYPOINT ["python", "-m", "ingress"]\n', ""),
}


def test_a_good_image_from_the_base_passes(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(CHILD)
    assert image_problems(tmp_path / "Dockerfile") == []


@pytest.mark.parametrize("expected", sorted(BROKEN_CHILD))
def test_a_broken_image_from_the_base_is_refused(tmp_path: Path, expected: str) -> None:
    old, new = BROKEN_CHILD[expected]
    assert old in CHILD
    (tmp_path / "Dockerfile").write_text(CHILD.replace(old, new, 1))
    found = image_problems(tmp_path / "Dockerfile")
    assert any(expected in problem for problem in found), found


def test_the_base_is_refused_where_the_repository_does_not_build_it(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(CHILD)
    found = image_problems(tmp_path / "Dockerfile", containers=tmp_path)
    assert any("is not built in this repository" in problem for problem in found), found


def test_the_base_is_checked_with_the_image(tmp_path: Path) -> None:
    """A fault in the base (an unpinned package) is one in every image built FROM it."""
    (tmp_path / "base").mkdir()
    base = (CONTAINERS / "base" / "Dockerfile").read_text()
    assert "python3=3.11.2-1+b1 \\\n" in base
    (tmp_path / "base" / "Dockerfile").write_text(
        base.replace("python3=3.11.2-1+b1 \\\n", "python3 \\\n")
    )
    (tmp_path / "Dockerfile").write_text(CHILD)
    found = image_problems(tmp_path / "Dockerfile", containers=tmp_path)
    assert found == ["Debian package python3 is not pinned (name=version)"], found
