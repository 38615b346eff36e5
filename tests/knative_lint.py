"""What only Knative Serving's admission webhooks would refuse, checked without a cluster.

Why: the CRD schema (validated with jsonschema in test_manifests.py) accepts a ksvc that the
webhook rejects at `kubectl apply`: bad autoscaling annotation values, a timeout above
config-defaults' ceiling, reserved ports and env vars, feature-flagged pod fields. The limits
are read from Knative's own ConfigMaps in tests/schemas/knative/serving (their `_example`
blocks document every default), so the rules follow the Knative release we validate against.
Each function returns problems as "<name>: <what>" strings; empty means clean.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

RESERVED_PORTS = {8012, 8013, 8022, 9090, 9091}
RESERVED_ENV = {"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"}
RESERVED_MOUNTS = {"/", "/dev", "/dev/log", "/tmp", "/var", "/var/log"}
AUTOSCALING = "autoscaling.knative.dev/"
CLASSES = {"kpa.autoscaling.knative.dev", "hpa.autoscaling.knative.dev"}
METRICS = {
    "kpa.autoscaling.knative.dev": {"concurrency", "rps"},
    "hpa.autoscaling.knative.dev": {"cpu", "memory"},
}
# Container securityContext fields the webhook lets through (others need a flag or are refused).
CONTAINER_SECURITY_FIELDS = {
    "allowPrivilegeEscalation",
    "capabilities",
    "readOnlyRootFilesystem",
    "runAsGroup",
    "runAsNonRoot",
    "runAsUser",
    "seccompProfile",
}
# Pod spec fields behind a config-features flag (knative-serving/config-features).
FLAGGED_POD_FIELDS = {
    "runtimeClassName": "kubernetes.podspec-runtimeclassname",
    "securityContext": "kubernetes.podspec-securitycontext",
    "affinity": "kubernetes.podspec-affinity",
    "nodeSelector": "kubernetes.podspec-nodeselector",
    "tolerations": "kubernetes.podspec-tolerations",
    "topologySpreadConstraints": "kubernetes.podspec-topologyspreadconstraints",
    "hostAliases": "kubernetes.podspec-hostaliases",
    "dnsPolicy": "kubernetes.podspec-dnspolicy",
    "dnsConfig": "kubernetes.podspec-dnsconfig",
    "priorityClassName": "kubernetes.podspec-priorityclassname",
    "schedulerName": "kubernetes.podspec-schedulername",
    "shareProcessNamespace": "kubernetes.podspec-shareprocessnamespace",
    "hostIPC": "kubernetes.podspec-hostipc",
    "hostPID": "kubernetes.podspec-hostpid",
    "hostNetwork": "kubernetes.podspec-hostnetwork",
}
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")


def knative_defaults(serving_dir: Path, configmap: str) -> dict[str, str]:
    """The documented defaults of a Knative ConfigMap: the keys of its `_example` block."""
    document = yaml.safe_load((serving_dir / f"{configmap}.yaml").read_text())
    example = yaml.safe_load(document["data"]["_example"]) or {}
    return {str(k): str(v) for k, v in example.items()}


def lint_service(ksvc: Resource, defaults: dict[str, str], features: dict[str, str]) -> list[str]:
    """Problems Knative's webhook would report for one serving.knative.dev/v1 Service."""
    name = ksvc["metadata"]["name"]
    problems: list[str] = []
    template = ksvc["spec"]["template"]
    spec = template["spec"]
    top = ksvc["metadata"].get("annotations") or {}
    if any(key.startswith(AUTOSCALING) for key in top):
        problems.append("autoscaling annotations belong on spec.template.metadata")
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    problems += _autoscaling(annotations, spec.get("containerConcurrency", 0))
    timeout = spec.get("timeoutSeconds")
    ceiling = int(defaults["max-revision-timeout-seconds"])
    if timeout is not None and not 0 < int(timeout) <= ceiling:
        problems.append(f"timeoutSeconds {timeout} outside 1..{ceiling} (max-revision-timeout)")
    concurrency = spec.get("containerConcurrency", 0)
    limit = int(defaults["container-concurrency-max-limit"])
    if not 0 <= int(concurrency) <= limit:
        problems.append(f"containerConcurrency {concurrency} outside 0..{limit}")
    for field, flag in FLAGGED_POD_FIELDS.items():
        if field in spec and features.get(flag, "disabled") not in ("enabled", "allowed"):
            problems.append(f"{field} needs config-features {flag}: enabled")
    containers = spec.get("containers") or []
    if len(containers) != 1:
        problems.append(f"{len(containers)} containers (Sentinel's services have one)")
    for container in containers:
        problems += _container(container, features)
    return [f"{name}: {problem}" for problem in problems]


def _autoscaling(annotations: dict[str, str], concurrency: int) -> list[str]:
    problems = []
    values = {
        k[len(AUTOSCALING) :]: str(v) for k, v in annotations.items() if k.startswith(AUTOSCALING)
    }
    for key in ("min-scale", "max-scale", "initial-scale"):
        if key in values and not values[key].isdigit():
            problems.append(f"{key} {values[key]!r} is not a non-negative integer")
    klass = values.get("class", "kpa.autoscaling.knative.dev")
    if klass not in CLASSES:
        problems.append(f"unknown autoscaling class {klass!r}")
    elif values.get("metric", "concurrency") not in METRICS[klass]:
        problems.append(f"metric {values.get('metric')!r} is not one of {sorted(METRICS[klass])}")
    for key in ("target", "target-utilization-percentage"):
        if key in values:
            try:
                number = float(values[key])
            except ValueError:
                problems.append(f"{key} {values[key]!r} is not a number")
                continue
            top = 100.0 if key == "target-utilization-percentage" else float("inf")
            if not 0 < number <= top:
                problems.append(f"{key} {number} out of range")
            if key == "target" and int(concurrency) > 0 and number > int(concurrency):
                problems.append(f"target {number} above containerConcurrency {concurrency}")
    for key in ("scale-down-delay", "window", "stable-window"):
        if key in values and not _DURATION.match(values[key]):
            problems.append(f"{key} {values[key]!r} is not a duration such as 60s")
    low, high = values.get("min-scale", "0"), values.get("max-scale", "0")
    if low.isdigit() and high.isdigit() and int(high) and int(low) > int(high):
        problems.append(f"min-scale {low} above max-scale {high}")
    return problems


def _container(container: Resource, features: dict[str, str]) -> list[str]:
    problems = []
    ports = container.get("ports") or []
    if len(ports) > 1:
        problems.append("more than one container port")
    port_numbers = {p.get("containerPort") for p in ports}
    for port in ports:
        if port.get("containerPort") in RESERVED_PORTS:
            problems.append(f"reserved port {port['containerPort']}")
        if port.get("name", "http1") not in ("http1", "h2c"):
            problems.append(f"port name {port.get('name')!r} is neither http1 nor h2c")
    for variable in container.get("env") or []:
        if variable["name"] in RESERVED_ENV:
            problems.append(f"reserved env var {variable['name']}")
        if "fieldRef" in (variable.get("valueFrom") or {}) and features.get(
            "kubernetes.podspec-fieldref", "disabled"
        ) not in ("enabled", "allowed"):
            problems.append(f"env {variable['name']} fieldRef needs kubernetes.podspec-fieldref")
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container.get(kind) or {}
        for handler in ("httpGet", "tcpSocket", "grpc"):
            port = (probe.get(handler) or {}).get("port")
            if port is not None and port not in port_numbers:
                problems.append(f"{kind} {handler} port {port} is not the container port")
    for mount in container.get("volumeMounts") or []:
        if mount["mountPath"].rstrip("/") in RESERVED_MOUNTS or mount["mountPath"] == "/":
            problems.append(f"volumeMount at reserved path {mount['mountPath']}")
    security = container.get("securityContext") or {}
    for field in set(security) - CONTAINER_SECURITY_FIELDS:
        problems.append(f"securityContext.{field} is not allowed in a Knative Service")
    if (security.get("capabilities") or {}).get("add") and features.get(
        "kubernetes.containerspec-addcapabilities", "disabled"
    ) not in ("enabled", "allowed"):
        problems.append("capabilities.add needs kubernetes.containerspec-addcapabilities")
    return problems
