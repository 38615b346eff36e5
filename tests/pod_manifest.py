"""What a pod imposes on a container, read from config/base's own manifests, as podman flags.

Why derived and not written out: the claim "the executor works in a pod as its manifest runs
it" is only as good as the match between the manifest and the podman command; reading the
securityContext, resources, volumes and environment from the manifest makes a change there a
change of what tests/test_pod.py runs. No Kubernetes runs on these machines; podman
with runc reproduces the container-level parts: the user, dropped capabilities,
no_new_privs, the read-only root, the seccomp profile, the runtime's default masked /proc
(`procMount: Default`), the memory and CPU limits, emptyDir volumes (as tmpfs) and the env.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "config" / "base"
SECCOMP = REPO / "config" / "seccomp"
_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def manifest(name: str) -> dict[str, Any]:
    """The workload of config/base (a Knative Service, Deployment or StatefulSet) named `name`."""
    for path in sorted(BASE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            named = isinstance(doc, dict) and doc.get("metadata", {}).get("name") == name
            workload = named and (
                doc.get("kind") in ("Deployment", "StatefulSet")
                or str(doc.get("apiVersion", "")).startswith("serving.knative.dev/")
            )
            if workload:
                return dict(doc)
    raise KeyError(name)


def settings_literals(config_map: str) -> dict[str, str]:
    """The literals of a configMapGenerator entry of config/base/kustomization.yaml."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    for generator in kustomization.get("configMapGenerator", []):
        if generator["name"] == config_map:
            return dict(item.split("=", 1) for item in generator.get("literals", []))
    raise KeyError(config_map)


def _bytes(quantity: str) -> int:
    for suffix, factor in _UNITS.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)


def runtime_default_profile(out: Path) -> Path:
    """containerd's RuntimeDefault for a container without capabilities, as a file: the rules
    scripts/seccomp-profile.py starts from, without what it adds for bwrap."""
    spec = importlib.util.spec_from_file_location(
        "seccomp_profile", REPO / "scripts" / "seccomp-profile.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = json.loads(module.SOURCE.read_text())
    rendered = module.profile(source)
    rendered["syscalls"] = [r for r in rendered["syscalls"] if r["names"] != module.BWRAP_NEEDS]
    mask = 0x7E020000  # CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP
    rendered["syscalls"].append(
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": mask, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
        }
    )
    out.write_text(json.dumps(rendered))
    return out


def podman_args(
    doc: dict[str, Any], *, runtime_default: Path, env: dict[str, str] | None = None
) -> list[str]:
    """`podman run` flags for the first container of `doc` (a Knative Service, Deployment or
    StatefulSet), without the image, name and network; `env` overrides the manifest's."""
    pod = doc["spec"]["template"]["spec"]
    container = pod["containers"][0]
    security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    args: list[str] = []
    if "runAsUser" in security:
        args += [
            "--user",
            f"{security['runAsUser']}:{security.get('runAsGroup', security['runAsUser'])}",
        ]
    if security.get("runAsNonRoot"):
        assert security.get("runAsUser", 0) != 0, "runAsNonRoot with uid 0"
    if security.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    if security.get("readOnlyRootFilesystem"):
        args += ["--read-only", "--read-only-tmpfs=false"]
    capabilities = security.get("capabilities", {})
    args += [f"--cap-drop={c}" for c in capabilities.get("drop", [])]
    args += [f"--cap-add={c}" for c in capabilities.get("add", [])]
    assert not security.get("privileged"), "a privileged container is not what a pod gets"
    profile = security.get("seccompProfile", {"type": "RuntimeDefault"})
    if profile["type"] == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    elif profile["type"] == "RuntimeDefault":
        args += ["--security-opt", f"seccomp={runtime_default}"]
    else:
        local = SECCOMP / Path(profile["localhostProfile"]).name
        args += ["--security-opt", f"seccomp={local}"]
    if security.get("procMount") == "Unmasked":
        args += ["--security-opt", "unmask=ALL"]
    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        args += [
            f"--memory={_bytes(limits['memory'])}b",
            "--memory-swap",
            f"{_bytes(limits['memory'])}b",
        ]
    if "cpu" in limits:
        args += [f"--cpus={limits['cpu']}"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        if "emptyDir" in volume:
            size = volume["emptyDir"].get("sizeLimit")
            options = f"type=tmpfs,destination={mount['mountPath']},tmpfs-mode=1777,exec"
            args += ["--mount", options + (f",tmpfs-size={_bytes(size)}" if size else "")]
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(settings_literals(source["configMapRef"]["name"]))
    for item in container.get("env", []):
        if "value" in item:
            environment[item["name"]] = str(item["value"])
    if doc["kind"] == "Service":
        environment["PORT"] = "8080"  # what Knative's queue-proxy gives the user container
    environment.update(env or {})
    for name, value in environment.items():
        args += ["-e", f"{name}={value}"]
    return args
