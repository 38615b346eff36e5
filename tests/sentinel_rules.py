"""Sentinel's own rules for a rendered deployment: the numbers that must agree across files.

Why: Kubernetes and Knative accept each resource alone, yet the deployment is wrong when the
pieces disagree: an executor's containerConcurrency that is not its sandbox slots, a memory
limit that cannot hold every slot's job, a dispatcher that sends more jobs than the executors
can ever hold (they wait in the activator past their timeout and run twice), a trigger pointing
at a Service that does not exist, an executor that can reach the network or Redis. Each function
returns problems as strings; empty means the render is consistent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import yaml

from eventing.contract import REQUESTED
from eventing.triggers import parse_duration

Resource = dict[str, Any]
SERVICE_OVERHEAD_MI = 256
USER = 10001


def by_kind(resources: Iterable[Resource], kind: str, group: str = "") -> list[Resource]:
    """Resources of `kind` whose apiVersion is in `group` ("" for the core group)."""
    return [
        r for r in resources if r["kind"] == kind and r["apiVersion"].rpartition("/")[0] == group
    ]


def ksvcs(resources: Iterable[Resource]) -> dict[str, Resource]:
    """Knative Services by name."""
    return {r["metadata"]["name"]: r for r in by_kind(resources, "Service", "serving.knative.dev")}


def config_map(resources: Iterable[Resource], prefix: str) -> Resource:
    """The generated ConfigMap named `prefix-<hash>` (exactly one)."""
    found = [
        r
        for r in by_kind(resources, "ConfigMap")
        if re.fullmatch(rf"{re.escape(prefix)}(-[a-z0-9]{{10}})?", r["metadata"]["name"])
    ]
    assert len(found) == 1, f"expected one ConfigMap {prefix}, found {len(found)}"
    return found[0]


def triggers(resources: Iterable[Resource]) -> list[Resource]:
    """The Trigger resources inside the sentinel-triggers ConfigMap (what the dispatcher reads)."""
    text = config_map(resources, "sentinel-triggers")["data"]["triggers.yaml"]
    return [doc for doc in yaml.safe_load_all(text) if doc and doc.get("kind") == "Trigger"]


def pod_templates(resources: Iterable[Resource]) -> dict[str, Resource]:
    """Every pod template (Deployments, StatefulSets, Knative Services) by workload name."""
    out = {}
    for resource in resources:
        template = (resource.get("spec") or {}).get("template")
        if template:
            out[resource["metadata"]["name"]] = template
    return out


def mebibytes(quantity: str) -> float:
    """A Kubernetes memory quantity in MiB (Mi, Gi, M, G suffixes or bytes)."""
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / 2**20


def _env(container: Resource) -> dict[str, str]:
    return {v["name"]: v.get("value", "") for v in container.get("env") or [] if "value" in v}


def executor_problems(resources: list[Resource]) -> list[str]:
    """Each executor: slots = containerConcurrency, room for every slot, locked down, no Redis."""
    problems = []
    settings = config_map(resources, "sentinel-executor-settings")["data"]
    per_job_mi = int(settings["SENTINEL_MAX_MEMORY_MB"])
    work_dir = settings["SENTINEL_WORK_DIR"]
    executors = {
        n: s
        for n, s in ksvcs(resources).items()
        if s["metadata"]["labels"].get("app.kubernetes.io/component") == "executor"
    }
    if not executors:
        problems.append("no executor Knative Services")
    for name, ksvc in executors.items():
        template = ksvc["spec"]["template"]
        spec = template["spec"]
        container = spec["containers"][0]
        env = _env(container)
        slots = int(env.get("SENTINEL_SLOTS", "0"))
        if spec.get("containerConcurrency") != slots:
            problems.append(
                f"{name}: containerConcurrency {spec.get('containerConcurrency')} != "
                f"SENTINEL_SLOTS {slots}"
            )
        probes = [container.get(p) or {} for p in ("readinessProbe", "livenessProbe")]
        if any("httpGet" in p for p in probes) and int(env.get("SENTINEL_HEALTH_THREADS", 0)) < 1:
            problems.append(f"{name}: HTTP probes need SENTINEL_HEALTH_THREADS >= 1")
        limit = mebibytes(container["resources"].get("limits", {}).get("memory", "0"))
        needed = slots * per_job_mi + SERVICE_OVERHEAD_MI
        if limit < needed:
            problems.append(f"{name}: memory limit {limit:.0f}Mi < {slots} slots x job + overhead")
        language = name.removeprefix("executor-")
        if env.get("SENTINEL_LANGUAGES") != language:
            problems.append(f"{name}: SENTINEL_LANGUAGES is not {language}")
        annotations = template["metadata"]["annotations"]
        if annotations.get("autoscaling.knative.dev/min-scale") != "0":
            problems.append(f"{name}: does not scale to zero")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: mounts a service-account token")
        if any("secretKeyRef" in (v.get("valueFrom") or {}) for v in container.get("env") or []):
            problems.append(f"{name}: reads a Secret (executors have no Redis access)")
        if not any(m["mountPath"] == work_dir.rsplit("/", 1)[0] for m in container["volumeMounts"]):
            problems.append(f"{name}: no writable volume holds SENTINEL_WORK_DIR {work_dir}")
        security = container["securityContext"]
        expected = {
            "runAsNonRoot": True,
            "runAsUser": USER,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        for key, value in expected.items():
            if security.get(key) != value:
                problems.append(f"{name}: securityContext.{key} is not {value}")
    return problems


def workload_problems(resources: list[Resource]) -> list[str]:
    """Every pod: non-root, requests and limits, no token; Secrets referenced, never shipped."""
    problems = [
        f"Secret {r['metadata']['name']} is committed" for r in by_kind(resources, "Secret")
    ]
    for name, template in pod_templates(resources).items():
        spec = template["spec"]
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: mounts a service-account token")
        for container in spec["containers"]:
            security = {**(spec.get("securityContext") or {}), **container["securityContext"]}
            if security.get("runAsNonRoot") is not True or security.get("runAsUser") != USER:
                problems.append(f"{name}: not running as uid {USER} (runAsNonRoot)")
            if not container["securityContext"].get("readOnlyRootFilesystem"):
                problems.append(f"{name}: writable root filesystem")
            resources_ = container.get("resources") or {}
            for bound in ("requests", "limits"):
                if {"cpu", "memory"} - set(resources_.get(bound) or {}):
                    problems.append(f"{name}: missing cpu/memory {bound}")
            for variable in container.get("env") or []:
                if variable["name"] in ("REDIS_URL", "REDIS_PASSWORD") and "value" in variable:
                    problems.append(f"{name}: {variable['name']} set in plain text")
    return problems


def routing_problems(resources: list[Resource]) -> list[str]:
    """Triggers point at existing Services, outlast their timeout, fit their capacity."""
    problems = []
    services = ksvcs(resources)
    dispatchers = [
        d for d in by_kind(resources, "Deployment", "apps") if d["metadata"]["name"] == "dispatcher"
    ]
    replicas = dispatchers[0]["spec"].get("replicas", 1) if dispatchers else 0
    if not dispatchers:
        problems.append("no dispatcher Deployment")
    settings = config_map(resources, "sentinel-settings")["data"]
    namespaces = {r["metadata"].get("namespace") for r in resources if r["kind"] != "Namespace"}
    if namespaces != {settings["SENTINEL_NAMESPACE"]}:
        problems.append(
            f"SENTINEL_NAMESPACE {settings['SENTINEL_NAMESPACE']} but resources in {namespaces}"
        )
    for trigger in triggers(resources):
        name = trigger["metadata"]["name"]
        target = trigger["spec"]["subscriber"]["ref"]["name"]
        if target not in services:
            problems.append(f"trigger {name}: no Knative Service {target}")
            continue
        spec = services[target]["spec"]["template"]["spec"]
        timeout = parse_duration(trigger["spec"]["delivery"]["timeout"])
        # A job outliving the delivery timeout would be retried while it still runs.
        is_job = trigger["spec"]["filter"]["attributes"].get("type") == REQUESTED
        if is_job and timeout <= spec.get("timeoutSeconds", 300):
            problems.append(f"trigger {name}: delivery timeout {timeout}s <= revision timeout")
        in_flight = int(
            trigger["metadata"]["annotations"]["sentinel.dev/max-concurrent-deliveries"]
        )
        concurrency = spec.get("containerConcurrency", 0)
        annotations = services[target]["spec"]["template"]["metadata"]["annotations"]
        max_scale = int(annotations.get("autoscaling.knative.dev/max-scale", "0"))
        if concurrency and max_scale and in_flight * replicas > concurrency * max_scale:
            problems.append(
                f"trigger {name}: {replicas} dispatchers x {in_flight} in flight > "
                f"{concurrency} x max-scale {max_scale}"
            )
    return problems


def _selects(selector: Resource, labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector (matchLabels, matchExpressions In/NotIn/Exists) on labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def policies_for(resources: list[Resource], labels: dict[str, str], direction: str) -> list[str]:
    """Names of the NetworkPolicies that select pods with `labels` for Ingress or Egress."""
    return [
        p["metadata"]["name"]
        for p in by_kind(resources, "NetworkPolicy", "networking.k8s.io")
        if direction in p["spec"].get("policyTypes", [])
        and _selects(p["spec"]["podSelector"], labels)
    ]


def network_problems(resources: list[Resource]) -> list[str]:
    """Default deny; executors egress to DNS only; Redis admits no executor."""
    problems = []
    # Knative adds serving.knative.dev/service to revision pods.
    executor = {
        "app.kubernetes.io/part-of": "sentinel",
        "app.kubernetes.io/component": "executor",
        "serving.knative.dev/service": "executor-python",
    }
    egress = set(policies_for(resources, executor, "Egress"))
    if egress != {"default-deny", "allow-dns"}:
        problems.append(f"executors egress through {sorted(egress)}, not DNS only")
    for workload in ("ingress", "sink", "dispatcher", "redis", "executor"):
        labels = {"app.kubernetes.io/component": workload}
        for direction in ("Ingress", "Egress"):
            if "default-deny" not in policies_for(resources, labels, direction):
                problems.append(f"{workload}: {direction} not denied by default")
    for policy in by_kind(resources, "NetworkPolicy", "networking.k8s.io"):
        if not _selects(policy["spec"]["podSelector"], {"app.kubernetes.io/component": "redis"}):
            continue
        for rule in policy["spec"].get("ingress") or []:
            for peer in rule.get("from") or []:
                if "podSelector" in peer and _selects(peer["podSelector"], executor):
                    problems.append(f"{policy['metadata']['name']}: executors may reach Redis")
    return problems


def all_problems(resources: list[Resource]) -> list[str]:
    """Every rule above, for one rendered kustomization."""
    return [
        *executor_problems(resources),
        *workload_problems(resources),
        *routing_problems(resources),
        *network_problems(resources),
    ]
