"""Static checks of a Dockerfile whose build context is the repository root.

Why: no container engine runs on the machines that test Sentinel, so an image is proven
buildable and safe the only way left: parse the Dockerfile (dockerfile-parse, what
OpenShift's build tooling uses) and check what a build would trip over or a cluster would
refuse: COPY sources that are missing or excluded by .dockerignore, an unpinned base image or
package, a root user, an entrypoint module that does not exist.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path

from dockerfile_parse import DockerfileParser

NON_ROOT_UID = "10001"


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore `patterns` exclude `relative` (or a folder holding it); `!` re-adds.

    Docker's rules, as far as Sentinel's file uses them: the last matching pattern wins, a
    pattern matches a path or any of its parent folders, and `**/` matches at any depth.
    """
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in patterns:
        pattern = raw.lstrip("!").strip("/")
        for prefix in prefixes:
            if pattern.startswith("**/"):
                segments = prefix.split("/")
                tails = ["/".join(segments[i:]) for i in range(len(segments))]
                hit = any(fnmatch.fnmatchcase(tail, pattern[3:]) for tail in tails)
            else:
                hit = fnmatch.fnmatchcase(prefix, pattern)
            if hit:
                excluded = not raw.startswith("!")
                break
    return excluded


def dockerignore(repo: Path) -> list[str]:
    """The patterns of the repository's .dockerignore (comments and blanks dropped)."""
    lines = (repo / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def problems(dockerfile: Path, repo: Path) -> list[str]:
    """Everything wrong with `dockerfile` built with `repo` as its context."""
    parser = DockerfileParser(path=str(dockerfile))
    instructions = parser.structure
    patterns = dockerignore(repo)
    found: list[str] = []
    stages: list[str] = []
    final_user = None
    entrypoint = None
    for instruction in instructions:
        keyword, value = instruction["instruction"], instruction["value"]
        if keyword == "FROM":
            found += _base_image(value, stages)
            final_user, entrypoint = None, None
        elif keyword in ("COPY", "ADD"):
            found += _copy(value, repo, patterns)
        elif keyword == "USER":
            final_user = value.split(":")[0]
        elif keyword == "ENTRYPOINT":
            entrypoint = value
        elif keyword == "RUN" and "apt-get install" in value:
            found += _apt_pins(value)
    if final_user is None:
        found.append("the final stage has no USER (it would run as root)")
    elif final_user in ("0", "root") or final_user != NON_ROOT_UID:
        found.append(f"USER {final_user} is not the non-root uid {NON_ROOT_UID}")
    found += _entrypoint(entrypoint, repo)
    return found


def _base_image(value: str, stages: list[str]) -> list[str]:
    words = value.split()
    image = words[0]
    if len(words) >= 3 and words[1].upper() == "AS":
        stages.append(words[2])
    if image in stages:
        return []
    if "@sha256:" in image:
        return []
    tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
    if not tag or tag == "latest" or not re.search(r"\d", tag):
        return [f"base image {image} is not pinned to a versioned tag"]
    return []


def _copy(value: str, repo: Path, patterns: list[str]) -> list[str]:
    words = shlex.split(value)
    if any(w.startswith("--from") for w in words):
        return []
    sources = [w for w in words if not w.startswith("--")][:-1]
    found = []
    for source in sources:
        if not (repo / source).exists():
            found.append(f"COPY source {source} does not exist in the build context")
        elif ignored(source, patterns):
            found.append(f"COPY source {source} is excluded by .dockerignore")
    return found


def _apt_pins(value: str) -> list[str]:
    command = value.split("apt-get install", 1)[1].split("&&")[0]
    packages = [w for w in command.replace("\\", " ").split() if not w.startswith("-")]
    return [f"Debian package {p} is not pinned (name=version)" for p in packages if "=" not in p]


def _entrypoint(value: str | None, repo: Path) -> list[str]:
    if value is None:
        return ["no ENTRYPOINT"]
    try:
        argv = json.loads(value)
    except json.JSONDecodeError:
        return [f"ENTRYPOINT {value} is not in exec (JSON) form"]
    if argv[:2] != ["python", "-m"] or len(argv) < 3:
        return [f"ENTRYPOINT {argv} is not `python -m MODULE`"]
    module = Path(*argv[2].split("."))
    if not (
        (repo / module).with_suffix(".py").is_file() or (repo / module / "__main__.py").is_file()
    ):
        return [f"ENTRYPOINT module {argv[2]} does not exist in the repository"]
    return []
