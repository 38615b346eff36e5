"""The executors' seccomp profile: one source (config/seccomp/sentinel-executor.json, written by
scripts/seccomp-profile.py), its Security Profiles Operator copy in step, and every executor
manifest naming it; with it, every pod of config/base meets Pod Security "restricted", which
config/base/000-namespace.yaml enforces. tests/test_pod.py shows the profile at work.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "seccomp-profile.py"
PROFILE = REPO / "config" / "seccomp" / "sentinel-executor.json"
OPERATOR = REPO / "config" / "seccomp" / "seccompprofile.yaml"
SOURCE = Path("/usr/share/containers/seccomp.json")


def test_the_operators_resource_carries_the_same_rules_as_the_kubelets_file() -> None:
    resource = yaml.safe_load(OPERATOR.read_text())
    assert resource["kind"] == "SeccompProfile"
    assert resource["spec"] == json.loads(PROFILE.read_text())


def test_the_profile_is_what_the_script_makes_of_the_runtimes_default() -> None:
    if not SOURCE.exists():
        pytest.skip(f"{SOURCE} (Debian's containers-common, installed with podman) is missing")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


def test_the_profile_adds_to_runtime_default_only_what_bwrap_needs() -> None:
    rules = json.loads(PROFILE.read_text())["syscalls"]
    allowed = {
        n
        for r in rules
        if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
        for n in r["names"]
    }
    for needed in ("clone", "unshare", "mount", "umount2", "pivot_root", "sethostname"):
        assert needed in allowed
    for refused in ("setns", "umount", "bpf", "kexec_load", "init_module", "open_by_handle_at"):
        assert refused not in allowed, refused
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} in rules


def _pod_templates() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((REPO / "config" / "base").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") in (
                "Service",
                "Deployment",
                "StatefulSet",
            ):
                template = doc.get("spec", {}).get("template", {}).get("spec")
                if template:
                    found.append((f"{path.name}:{doc['metadata']['name']}", template))
    return found


def test_every_executor_names_the_localhost_profile() -> None:
    executors = [(n, t) for n, t in _pod_templates() if "executor-" in n]
    assert len(executors) == 17
    for name, template in executors:
        profile = template["containers"][0]["securityContext"]["seccompProfile"]
        assert profile == {"type": "Localhost", "localhostProfile": PROFILE.name}, name


@pytest.mark.parametrize(
    ("name", "template"), _pod_templates(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_pod_meets_pod_security_restricted(name: str, template: dict[str, Any]) -> None:
    """The "restricted" rules of Pod Security Admission that these manifests could break."""
    pod = template.get("securityContext", {})
    assert not any(template.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), name
    assert template.get("hostUsers", True) is True, name
    for volume in template.get("volumes", []):
        assert set(volume) - {"name"} <= {
            "emptyDir",
            "configMap",
            "secret",
            "projected",
            "persistentVolumeClaim",
        }, name
    for container in template["containers"] + template.get("initContainers", []):
        security = {**pod, **container.get("securityContext", {})}
        assert security.get("runAsNonRoot") is True and security.get("runAsUser", 1) != 0, name
        assert security.get("allowPrivilegeEscalation") is False, name
        assert not security.get("privileged"), name
        assert security.get("capabilities", {}).get("drop") == ["ALL"], name
        assert set(security.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}, name
        assert security.get("seccompProfile", {}).get("type") in ("RuntimeDefault", "Localhost"), (
            name
        )
        assert security.get("procMount", "Default") == "Default", name
        assert not container.get("ports") or all("hostPort" not in p for p in container["ports"]), (
            name
        )
