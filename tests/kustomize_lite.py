"""A small kustomize: renders config/ when kubectl is not installed (a fresh Debian machine).

Why our own: kubectl is not a Debian package, and the manifests must be validated on every CI
run, not skipped. This handles exactly the kustomize features config/ uses, and refuses anything
else loudly (KustomizeError), so a new feature in config/ cannot be silently misrendered:
resources (files and directories), namespace, configMapGenerator (literals, files; behaviors
create, merge, replace; generatorOptions labels) with a content-hash suffix, name references to
generated ConfigMaps in pod templates (Deployments, StatefulSets and, through
kustomizeconfig.yaml, Knative Services), inline JSON 6902 patches with kind/name/group/
labelSelector targets, and images.
tests/test_manifests.py checks its output equals `kubectl kustomize` where kubectl exists.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

KNOWN_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "configurations",
    "configMapGenerator",
    "generatorOptions",
    "patches",
    "images",
}
CLUSTER_SCOPED = {"Namespace", "RuntimeClass", "ClusterRole", "ClusterRoleBinding"}


class KustomizeError(ValueError):
    """config/ uses something this renderer does not implement (or gets it wrong)."""


@dataclass
class _Layer:
    resources: list[Resource] = field(default_factory=list)
    config_maps: dict[str, Resource] = field(default_factory=dict)


def build(path: Path) -> list[Resource]:
    """Render the kustomization in `path`: generated ConfigMaps first, then the resources."""
    layer = _load(path)
    renamed = {name: f"{name}-{config_map_hash(cm)}" for name, cm in layer.config_maps.items()}
    out = []
    for name, config_map in layer.config_maps.items():
        config_map = copy.deepcopy(config_map)
        config_map["metadata"]["name"] = renamed[name]
        out.append(config_map)
    for resource in layer.resources:
        _rename_config_map_refs(resource, renamed)
        out.append(resource)
    return out


def config_map_hash(config_map: Resource) -> str:
    """A content-hash name suffix in kustomize's alphabet (10 characters, no vowels).

    Not kustomize's exact digest: what matters is that new content means a new name, which
    tests compare with kubectl's render with the suffixes masked.
    """
    encoded = {"data": config_map.get("data") or {}, "name": config_map["metadata"]["name"]}
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _load(path: Path) -> _Layer:
    spec = yaml.safe_load((path / "kustomization.yaml").read_text())
    unknown = set(spec) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{path}: unsupported kustomization fields {sorted(unknown)}")
    layer = _Layer()
    for entry in spec.get("resources", []):
        target = (path / entry).resolve()
        if target.is_dir():
            sub = _load(target)
            layer.resources += sub.resources
            layer.config_maps.update(sub.config_maps)
        else:
            docs = yaml.safe_load_all(target.read_text())
            layer.resources += [doc for doc in docs if doc]
    options = spec.get("generatorOptions") or {}
    if set(options) - {"labels"}:
        raise KustomizeError(f"{path}: generatorOptions supports labels only")
    for generator in spec.get("configMapGenerator", []):
        _generate(path, generator, layer.config_maps, options.get("labels") or {})
    for patch in spec.get("patches", []):
        _patch(patch, layer.resources)
    for image in spec.get("images", []):
        for resource in layer.resources:
            _set_image(resource, image)
    namespace = spec.get("namespace")
    if namespace:
        for resource in [*layer.resources, *layer.config_maps.values()]:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = namespace
    return layer


def _generate(
    path: Path, generator: dict[str, Any], config_maps: dict[str, Resource], labels: dict[str, str]
) -> None:
    name = generator["name"]
    unknown = set(generator) - {"name", "literals", "files", "behavior"}
    if unknown:
        raise KustomizeError(f"configMapGenerator {name}: unsupported {sorted(unknown)}")
    data: dict[str, str] = {}
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    for entry in generator.get("files", []):
        key, _, source = entry.rpartition("=")
        source_path = path / source
        data[key or source_path.name] = source_path.read_text()
    behavior = generator.get("behavior", "create")
    if behavior == "create":
        if name in config_maps:
            raise KustomizeError(f"configMapGenerator {name} already exists: use merge or replace")
        config_maps[name] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, **({"labels": dict(labels)} if labels else {})},
            "data": data,
        }
    elif behavior in ("merge", "replace"):
        if name not in config_maps:
            raise KustomizeError(f"configMapGenerator {name}: nothing to {behavior}")
        existing = config_maps[name]
        existing["data"] = {**existing["data"], **data} if behavior == "merge" else data
        if labels:
            existing["metadata"].setdefault("labels", {}).update(labels)
    else:
        raise KustomizeError(f"configMapGenerator {name}: unknown behavior {behavior}")


def _matches(resource: Resource, target: dict[str, Any]) -> bool:
    unknown = set(target) - {"kind", "name", "group", "version", "labelSelector"}
    if unknown:
        raise KustomizeError(f"patch target: unsupported {sorted(unknown)}")
    group, _, version = resource["apiVersion"].rpartition("/")
    checks = {
        "kind": resource["kind"],
        "name": resource["metadata"]["name"],
        "group": group,
        "version": version,
    }
    for key, actual in checks.items():
        if key in target and not re.fullmatch(target[key], actual):
            return False
    selector = target.get("labelSelector")
    labels = resource["metadata"].get("labels") or {}
    return selector is None or _selects(selector, labels)


def _selects(selector: str, labels: dict[str, str]) -> bool:
    """Equality (`k=v`) and set-based (`k in (a,b)`) label selectors, comma-joined terms."""
    for term in re.findall(r"[^,()]+(?:\([^)]*\))?", selector):
        term = term.strip()
        if match := re.fullmatch(r"([\w./-]+)\s*==?\s*([\w.-]+)", term):
            if labels.get(match[1]) != match[2]:
                return False
        elif match := re.fullmatch(r"([\w./-]+)\s+in\s+\(([^)]*)\)", term):
            if labels.get(match[1]) not in {v.strip() for v in match[2].split(",")}:
                return False
        else:
            raise KustomizeError(f"unsupported label selector term {term!r}")
    return True


def _patch(patch: dict[str, Any], resources: list[Resource]) -> None:
    if set(patch) != {"target", "patch"}:
        raise KustomizeError("only inline JSON 6902 patches with a target are supported")
    operations = yaml.safe_load(patch["patch"])
    if not isinstance(operations, list):
        raise KustomizeError("only JSON 6902 patches (a list of operations) are supported")
    matched = [r for r in resources if _matches(r, patch["target"])]
    if not matched:
        raise KustomizeError(f"patch target {patch['target']} matches nothing")
    for resource in matched:
        for operation in operations:
            _apply_operation(resource, operation)


def _apply_operation(document: Resource, operation: dict[str, Any]) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
    parent: Any = document
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    op = operation["op"]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if op == "add":
            parent.insert(index, operation["value"])
        elif op == "replace":
            parent[index] = operation["value"]
        elif op == "remove":
            del parent[index]
        else:
            raise KustomizeError(f"unsupported patch op {op}")
    elif op == "add":
        parent[last] = operation["value"]
    elif op == "replace":
        if last not in parent:
            raise KustomizeError(f"replace of missing path {operation['path']}")
        parent[last] = operation["value"]
    elif op == "remove":
        del parent[last]
    else:
        raise KustomizeError(f"unsupported patch op {op}")


def _set_image(node: Any, image: dict[str, str]) -> None:
    """kustomize's images transformer: every containers[]/initContainers[] image, any kind."""
    if isinstance(node, list):
        for item in node:
            _set_image(item, image)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in ("containers", "initContainers") and isinstance(value, list):
            for container in value:
                name, _, tag = container.get("image", "").partition(":")
                if name == image["name"]:
                    new_name = image.get("newName", name)
                    new_tag = image.get("newTag", tag)
                    container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name
        else:
            _set_image(value, image)


def _rename_config_map_refs(resource: Resource, renamed: dict[str, str]) -> None:
    """Point pod templates at the hashed names (kustomize's nameReference, plus ours for ksvc)."""
    pod = (resource.get("spec") or {}).get("template", {}).get("spec")
    if not pod:
        return

    def rename(holder: dict[str, Any] | None) -> None:
        if holder and holder.get("name") in renamed:
            holder["name"] = renamed[holder["name"]]

    for volume in pod.get("volumes", []):
        rename(volume.get("configMap"))
    for container in pod.get("containers", []):
        for source in container.get("envFrom", []):
            rename(source.get("configMapRef"))
        for variable in container.get("env", []):
            rename((variable.get("valueFrom") or {}).get("configMapKeyRef"))
