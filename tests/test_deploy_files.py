"""The executor Dockerfiles, Knative Services and execute triggers are the registry's, written by
sentinel/deploy_files.py: stale copies fail here, and a language added to the registry alone
gets all of them (shown on a copy of the repository's files, with a made-up language), and its
names in Judge0's, Piston's and the CLI's tables, which are read from the registry at import."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from functions.languages import load_registry
from ingress.judge0 import language_ids as judge0
from ingress.piston import runtimes as piston
from sentinel import deploy_files
from sentinel import language_names as cli

REPO = Path(__file__).resolve().parents[1]
NEW_LANGUAGE = """
[zig]
display_name = "Zig"
source_file = "main.zig"
extensions = [".zon"]
builds = true
judge0 = {ids = [999], name = "Zig ({version})", source_file = "main.zig"}
piston = {aliases = ["ziglang"]}
version = ["/usr/bin/zig", "version"]
compile = ["/usr/bin/zig", "build-exe", "-O", "ReleaseSafe", "{source}"]
run = ["/box/main"]
packages = ["zig"]

[zig.image]
toolchain = "Zig 0.x"
note = "Zig: a made-up entry of tests/test_deploy_files.py."
packages = ["zig=0.0.0-1"]
limits = {cpu = "2", memory = "3Gi"}
"""


def _copy(tmp_path: Path) -> Path:
    for part in ("config", "containers", "functions/languages.toml"):
        source = REPO / part
        target = tmp_path / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
    return tmp_path


def test_the_generated_files_are_up_to_date(capsys: object) -> None:
    assert deploy_files.main(["--check"]) == 0


def test_a_hand_edit_of_a_generated_file_is_stale(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    dockerfile = repo / "containers" / "executor-cpp" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("g++=4:12.2.0-3", "g++"))
    assert deploy_files.main(["--check"], repo) == 1
    assert deploy_files.main([], repo) == 0
    assert "g++=4:12.2.0-3" in dockerfile.read_text()
    assert deploy_files.main(["--check"], repo) == 0


def test_a_language_added_to_the_registry_gets_its_image_service_and_triggers(
    tmp_path: Path,
) -> None:
    repo = _copy(tmp_path)
    registry = repo / "functions" / "languages.toml"
    registry.write_text(registry.read_text() + NEW_LANGUAGE)
    assert deploy_files.main(["--check"], repo) == 1
    assert deploy_files.main([], repo) == 0
    dockerfile = (repo / "containers" / "executor-zig" / "Dockerfile").read_text()
    assert "zig=0.0.0-1 \\" in dockerfile and "SENTINEL_LANGUAGES=zig" in dockerfile
    service = yaml.safe_load((repo / "config" / "base" / "318-executor-zig.yaml").read_text())
    container = service["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "sentinel/executor-zig"
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "3Gi"}
    assert {"name": "SENTINEL_LANGUAGES", "value": "zig"} in container["env"]
    kustomization = yaml.safe_load((repo / "config" / "base" / "kustomization.yaml").read_text())
    assert "318-executor-zig.yaml" in kustomization["resources"]
    for where in deploy_files.TRIGGERS:
        docs = [d for d in yaml.safe_load_all((repo / where.path).read_text()) if d]
        names = [d["metadata"]["name"] for d in docs]
        assert "execute-zig" in names and "sink-started" in names, where.path
        zig = docs[names.index("execute-zig")]
        assert zig["spec"]["delivery"]["timeout"] == where.timeout
    # And taken out again, its files go with it.
    registry.write_text(registry.read_text().replace(NEW_LANGUAGE, ""))
    assert deploy_files.main([], repo) == 0
    assert not (repo / "containers" / "executor-zig" / "Dockerfile").exists()
    assert not (repo / "config" / "base" / "318-executor-zig.yaml").exists()


def test_a_language_added_to_the_registry_gets_its_judge0_piston_and_cli_names(
    tmp_path: Path,
) -> None:
    repo = _copy(tmp_path)
    path = repo / "functions" / "languages.toml"
    path.write_text(path.read_text() + NEW_LANGUAGE)
    registry = load_registry(path)
    assert judge0.Judge0Language(999, "Zig ({version})", "main.zig", "zig") in judge0.table(
        registry
    )
    assert piston.piston_names(registry)["zig"] == ("zig", None, ("ziglang",))
    assert "zig" in piston.compiled(registry)
    assert cli.extensions(registry)[".zig"] == cli.extensions(registry)[".zon"] == "zig"
    assert "zig" in cli.native(registry)
    # The repository's own tables are the same functions of the repository's registry.
    assert judge0.table(load_registry()) == judge0.TABLE
    assert piston.piston_names(load_registry()) == piston.PISTON_NAMES
    assert cli.extensions(load_registry()) == cli.EXTENSIONS
