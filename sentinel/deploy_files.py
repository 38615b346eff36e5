"""The deployment files that only repeat the language registry, written from it.

Why generated: each language used to be written out again in its Dockerfile, its Knative
Service and one execute trigger in each of four triggers files, and those copies drifted. Now
functions/languages.toml is the only place a language is described: its `[<id>.image]` table
holds what only the deployment needs (the toolchain's pinned Debian packages, setup steps, the
pod's resources, a note), and this module writes

- containers/executor-<id>/Dockerfile       from sentinel/templates/executor.Dockerfile,
- config/base/3NN-executor-<id>.yaml          from sentinel/templates/executor-service.yaml
  (NN: the language's place in the registry, from 01),
- the execute-<id> triggers of config/triggers.yaml, config/base/triggers.yaml and the dev
  and production overlays' triggers.yaml (each file keeps its own header and the sink's and
  callbacks' triggers; only the per-language block between them is written, with that file's
  deliveries in flight and timeout),
- config/base/kustomization.yaml's list of executor resources.

`python -m sentinel.deploy_files` writes them; `--check` fails, naming the stale files, when
one differs from what it would write (tests/test_deploy_files.py runs that).
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_REQUESTS = {"cpu": "250m", "memory": "512Mi"}
DEFAULT_LIMITS = {"cpu": "2", "memory": "2560Mi"}


@dataclass(frozen=True)
class TriggersFile:
    """One triggers file (relative to the repository) and what its execute triggers carry."""

    path: str
    in_flight: int
    timeout: str


# The local run's, the cluster's and the overlays' (their comments say why these numbers).
TRIGGERS = (
    TriggersFile("config/triggers.yaml", 4, "PT120S"),
    TriggersFile("config/base/triggers.yaml", 16, "PT610S"),
    TriggersFile("config/overlays/dev/triggers.yaml", 4, "PT610S"),
    TriggersFile("config/overlays/production/triggers.yaml", 48, "PT610S"),
)
EXECUTE_TRIGGER = """apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: execute-{id}
  labels: {{app.kubernetes.io/part-of: sentinel, app.kubernetes.io/component: executor}}
  annotations: {{sentinel.dev/max-concurrent-deliveries: "{in_flight}"}}
spec:
  broker: sentinel
  filter:
    attributes: {{type: dev.sentinel.execution.requested, language: {id}}}
  subscriber:
    ref: {{apiVersion: serving.knative.dev/v1, kind: Service, name: executor-{id}}}
  delivery: {{retry: 3, backoffPolicy: exponential, backoffDelay: PT0.5S, timeout: {timeout}}}
---
"""


def registry(repo: Path) -> dict[str, dict[str, Any]]:
    """The registry's tables, in its order."""
    with (repo / "functions" / "languages.toml").open("rb") as handle:
        return tomllib.load(handle)


def dockerfile(language: str, table: dict[str, Any]) -> str:
    image = table["image"]
    setup = "".join(f"{line}\n" for line in image.get("setup", []))
    packages = "".join(f"      {package} \\\n" for package in image.get("packages", []))
    template = (TEMPLATES / "executor.Dockerfile").read_text()
    return template.format(
        id=language, toolchain=image["toolchain"], setup=setup, packages=packages
    )


def service(language: str, table: dict[str, Any]) -> str:
    image = table["image"]
    requests = {**DEFAULT_REQUESTS, **image.get("requests", {})}
    limits = {**DEFAULT_LIMITS, **image.get("limits", {})}
    template = (TEMPLATES / "executor-service.yaml").read_text()
    return template.format(
        id=language,
        note=image["note"],
        requests_cpu=requests["cpu"],
        requests_memory=requests["memory"],
        limits_cpu=limits["cpu"],
        limits_memory=limits["memory"],
    )


def service_path(repo: Path, index: int, language: str) -> Path:
    return repo / "config" / "base" / f"3{index:02d}-executor-{language}.yaml"


def triggers(current: str, languages: list[str], where: TriggersFile) -> str:
    """`current` with its execute-<language> triggers (one run of `---`-separated documents)
    written anew; the header before them and the documents after them are kept."""
    documents = current.split("---\n")
    execute = [i for i, doc in enumerate(documents) if "\n  name: execute-" in doc]
    if not execute or execute != list(range(execute[0], execute[-1] + 1)):
        raise ValueError(f"{where.path}: no single run of execute-<language> triggers")
    first = documents[execute[0]]
    header = first[: first.index("apiVersion: eventing.knative.dev/v1")]
    block = "".join(
        EXECUTE_TRIGGER.format(id=language, in_flight=where.in_flight, timeout=where.timeout)
        for language in languages
    )
    before = "---\n".join([*documents[: execute[0]], ""]) if execute[0] else ""
    after = "---\n".join(documents[execute[-1] + 1 :])
    return before + header + block + after


def kustomization(current: str, paths: list[Path]) -> str:
    listed = "".join(f"- {path.name}\n" for path in paths)
    pattern = re.compile(r"(?:- 3\d\d-executor-[^\n]+\n)+")
    if not pattern.search(current):
        raise ValueError("config/base/kustomization.yaml lists no executor resources")
    return pattern.sub(lambda _: listed, current, count=1)


def wanted(repo: Path = REPO) -> dict[Path, str]:
    """Every generated file and the text it must hold."""
    tables = registry(repo)
    languages = list(tables)
    files: dict[Path, str] = {}
    paths = []
    for index, language in enumerate(languages, start=1):
        table = tables[language]
        files[repo / "containers" / f"executor-{language}" / "Dockerfile"] = dockerfile(
            language, table
        )
        path = service_path(repo, index, language)
        paths.append(path)
        files[path] = service(language, table)
    for where in TRIGGERS:
        path = repo / where.path
        files[path] = triggers(path.read_text(), languages, where)
    kustomize = repo / "config" / "base" / "kustomization.yaml"
    files[kustomize] = kustomization(kustomize.read_text(), paths)
    return files


def stale_executor_files(repo: Path, files: dict[Path, str]) -> list[Path]:
    """Executor Dockerfiles and Services of languages no longer in the registry."""
    found = list((repo / "config" / "base").glob("3*-executor-*.yaml")) + list(
        (repo / "containers").glob("executor-*/Dockerfile")
    )
    return sorted(path for path in found if path not in files)


def main(argv: list[str], repo: Path = REPO) -> int:
    files = wanted(repo)
    stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    orphans = stale_executor_files(repo, files)
    if "--check" in argv:
        for path in stale:
            print(f"stale: {path.relative_to(repo)} (run python -m sentinel.deploy_files)")
        for path in orphans:
            print(f"not in the registry: {path.relative_to(repo)}")
        return 1 if stale or orphans else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for path in orphans:
        path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
