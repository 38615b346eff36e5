"""Sentinel's own rules for a rendered deployment: the numbers that must agree across files.

Why: Kubernetes and Knative accept each resource alone, yet the deployment is wrong when the
pieces disagree: an executor's containerConcurrency that is not its sandbox slots, a memory
limit that cannot hold every slot's job, a dispatcher that sends more jobs than the executors
can ever hold (they wait in the activator past their timeout and run twice), a trigger pointing
at a Service that does not exist, an executor that can reach the network or Redis, a callbacks
service that can reach the cluster's private addresses. Each function returns problems as
strings; empty means the render is consistent.
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
# What a run may hold past its memory limit where no cgroup holds it (a pod: limits mode
# rlimit), one poll of functions/process_tree.py; measured up to 21 Mi (tests/test_rlimit_mode.py).
RUN_OVERSHOOT_MI = 64
USER = 10001
COMPONENT = "app.kubernetes.io/component"
BROKER_INGRESS = "broker-ingress"
# Who talks to Redis; executors never do.
REDIS_CLIENTS = ("ingress", "sink", "dispatcher", BROKER_INGRESS, "callbacks")
# Where the networking layer's gateway runs (Kourier); cluster-local Knative URLs resolve to it.
GATEWAY_NAMESPACE = "kourier-system"
# What callbacks' internet egress must leave out: private, CGNAT, link-local (metadata), loopback.
PRIVATE_RANGES = frozenset(
    {
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
    }
)
SECRET_VARIABLES = ("REDIS_URL", "REDIS_PASSWORD", "SENTINEL_CALLBACK_SECRET")


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
    namespace = config_map(resources, "sentinel-settings")["data"]["SENTINEL_NAMESPACE"]
    # Started events go to the broker ingress, as a Knative SinkBinding would point K_SINK.
    broker_url = f"http://{BROKER_INGRESS}.{namespace}.svc.cluster.local"
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
        needed = slots * (per_job_mi + RUN_OVERSHOOT_MI) + SERVICE_OVERHEAD_MI
        if limit < needed:
            problems.append(f"{name}: memory limit {limit:.0f}Mi < {slots} slots x job + overhead")
        if env.get("K_SINK") != broker_url:
            problems.append(f"{name}: K_SINK is not the broker ingress {broker_url}")
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
                if variable["name"] in SECRET_VARIABLES and "value" in variable:
                    problems.append(f"{name}: {variable['name']} set in plain text")
    problems += _probe_problems(pod_templates(resources))
    callbacks = pod_templates(resources).get("callbacks")
    if callbacks is None:
        problems.append("no callbacks service")
    else:
        env = {v["name"]: v for v in callbacks["spec"]["containers"][0].get("env") or []}
        source = (env.get("SENTINEL_CALLBACK_SECRET") or {}).get("valueFrom") or {}
        if "secretKeyRef" not in source:
            problems.append("callbacks: SENTINEL_CALLBACK_SECRET does not come from a Secret")
    return problems


def _probe_problems(templates: dict[str, Resource]) -> list[str]:
    """The ingress is probed shallowly (/readyz, /healthz), never by /health, which asks every
    subscriber and would wake executors scaled to zero; the dispatcher, with no HTTP port, by
    its exec check of a heartbeat file that must sit on a writable volume."""
    problems = []
    ingress = templates["ingress"]["spec"]["containers"][0]
    for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        if ((ingress.get(kind) or {}).get("httpGet") or {}).get("path") != path:
            problems.append(f"ingress: {kind} is not GET {path}")
    dispatcher = templates["dispatcher"]["spec"]["containers"][0]
    command = ((dispatcher.get("readinessProbe") or {}).get("exec") or {}).get("command")
    if command != ["python", "-m", "eventing.dispatcher", "--check"]:
        problems.append("dispatcher: readinessProbe is not `python -m eventing.dispatcher --check`")
    heartbeat = _env(dispatcher).get("SENTINEL_HEARTBEAT_FILE", "")
    mounts = {m["mountPath"] for m in dispatcher.get("volumeMounts") or [] if not m.get("readOnly")}
    if not heartbeat or heartbeat.rsplit("/", 1)[0] not in mounts:
        problems.append(f"dispatcher: heartbeat file {heartbeat!r} is not on a writable volume")
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
    if BROKER_INGRESS not in services:
        problems.append(f"no Knative Service {BROKER_INGRESS} (the executors' K_SINK)")
    for trigger in triggers(resources):
        name = trigger["metadata"]["name"]
        target = trigger["spec"]["subscriber"]["ref"]["name"]
        dead = ((trigger["spec"]["delivery"].get("deadLetterSink") or {}).get("ref") or {}).get(
            "name"
        )
        if dead and dead not in services:
            problems.append(f"trigger {name}: dead-letter sink has no Knative Service {dead}")
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


def _rules(resources: list[Resource], labels: dict[str, str], direction: str) -> list[Resource]:
    """The ingress or egress rules of every NetworkPolicy selecting pods with `labels`."""
    field = {"Ingress": "ingress", "Egress": "egress"}[direction]
    return [
        rule
        for p in by_kind(resources, "NetworkPolicy", "networking.k8s.io")
        if direction in p["spec"].get("policyTypes", [])
        and _selects(p["spec"]["podSelector"], labels)
        for rule in p["spec"].get(field) or []
    ]


def _peers(rule: Resource, direction: str) -> list[Resource] | None:
    """A rule's peers; None when it names none (it then admits every address)."""
    peers = rule.get("to" if direction == "Egress" else "from")
    return list(peers) if peers else None


def _in_namespace_pods(peer: Resource, labels: dict[str, str]) -> bool:
    """Whether `peer` admits this namespace's pods with `labels` (an ipBlock never does:
    Kubernetes leaves pod addresses in an ipBlock to the CNI)."""
    return (
        "podSelector" in peer
        and "namespaceSelector" not in peer
        and _selects(peer["podSelector"], labels)
    )


def _admits_pods(peers: list[Resource] | None, labels: dict[str, str]) -> bool:
    """Whether a rule's peers (None: every address) admit this namespace's pods with `labels`."""
    return peers is None or any(_in_namespace_pods(peer, labels) for peer in peers)


def _is_dns(peer: Resource) -> bool:
    namespace = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
    pods = (peer.get("podSelector") or {}).get("matchLabels") or {}
    return namespace.get("kubernetes.io/metadata.name") == "kube-system" and pods == {
        "k8s-app": "kube-dns"
    }


def _is_gateway(peer: Resource) -> bool:
    namespace = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
    return set(peer) == {"namespaceSelector"} and namespace == {
        "kubernetes.io/metadata.name": GATEWAY_NAMESPACE
    }


def _pods(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/part-of": "sentinel", COMPONENT: component}


def _only(peer: Resource, component: str) -> bool:
    """`peer` selects this namespace's `component` pods and no other Sentinel component's."""
    others = (*REDIS_CLIENTS, "executor", "redis")
    return _in_namespace_pods(peer, _pods(component)) and not any(
        _in_namespace_pods(peer, _pods(other)) for other in others if other != component
    )


def _reaches(resources: list[Resource], source: str, target: str) -> bool:
    """Whether `source` pods may egress to `target` pods and `target` admits them."""
    out = any(
        _admits_pods(_peers(rule, "Egress"), _pods(target))
        for rule in _rules(resources, _pods(source), "Egress")
    )
    into = any(
        _admits_pods(_peers(rule, "Ingress"), _pods(source))
        for rule in _rules(resources, _pods(target), "Ingress")
    )
    return out and into


def network_problems(resources: list[Resource]) -> list[str]:
    """Default deny; executors egress to DNS and the broker ingress only; Redis admits its
    clients and no executor; only callbacks reach the internet, and never private ranges."""
    problems = []
    for workload in (*REDIS_CLIENTS, "redis", "executor"):
        for direction in ("Ingress", "Egress"):
            if "default-deny" not in policies_for(resources, {COMPONENT: workload}, direction):
                problems.append(f"{workload}: {direction} not denied by default")
    # Knative adds serving.knative.dev/service to revision pods.
    executor = {**_pods("executor"), "serving.knative.dev/service": "executor-python"}
    for rule in _rules(resources, executor, "Egress"):
        peers = _peers(rule, "Egress")
        if peers is None:
            problems.append("executors may egress anywhere, not DNS and the broker ingress only")
            continue
        for peer in peers:
            if not (_is_dns(peer) or _is_gateway(peer) or _only(peer, BROKER_INGRESS)):
                problems.append(f"executors egress to {peer}, not DNS and the broker ingress only")
    if not _reaches(resources, "executor", BROKER_INGRESS):
        problems.append("executors cannot reach the broker ingress (their K_SINK)")
    for client in REDIS_CLIENTS:
        if not _reaches(resources, client, "redis"):
            problems.append(f"{client} cannot reach Redis")
    for rule in _rules(resources, _pods("redis"), "Ingress"):
        if _admits_pods(_peers(rule, "Ingress"), executor):
            problems.append("executors may reach Redis")
    problems += _internet_problems(resources)
    return problems


def _internet_problems(resources: list[Resource]) -> list[str]:
    """Callbacks reach public addresses on 80/443 only; nothing else reaches the internet."""
    problems = []
    for workload in ("ingress", "sink", "dispatcher", BROKER_INGRESS, "redis", "executor"):
        for rule in _rules(resources, _pods(workload), "Egress"):
            peers = _peers(rule, "Egress")
            if peers is None or any("ipBlock" in p for p in peers):
                problems.append(f"{workload}: egress to addresses outside the cluster")
    internet = 0
    for rule in _rules(resources, _pods("callbacks"), "Egress"):
        peers = _peers(rule, "Egress")
        if peers is None:
            problems.append("callbacks may egress anywhere, private ranges included")
            continue
        for peer in peers:
            if "ipBlock" not in peer:
                continue
            internet += 1
            missing = PRIVATE_RANGES - set(peer["ipBlock"].get("except") or [])
            if missing:
                problems.append(f"callbacks: ipBlock does not except {sorted(missing)}")
            ports = {(p.get("protocol", "TCP"), p.get("port")) for p in rule.get("ports") or [{}]}
            if not ports <= {("TCP", 80), ("TCP", 443)}:
                problems.append(f"callbacks: internet egress on ports other than 80/443: {ports}")
    if not internet:
        problems.append("callbacks cannot reach the internet (callbackUrl)")
    return problems


def all_problems(resources: list[Resource]) -> list[str]:
    """Every rule above, for one rendered kustomization."""
    return [
        *executor_problems(resources),
        *workload_problems(resources),
        *routing_problems(resources),
        *network_problems(resources),
    ]
