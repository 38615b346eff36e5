"""config/ is valid without a cluster: rendered, schema-checked, linted as Knative's webhook would.

Every kustomization (the base and each overlay) is rendered with `kubectl kustomize` where
kubectl exists, else with tests/kustomize_lite.py (never skipped). Core kinds are validated with
kubernetes-validate --strict; Knative kinds against the CRD schemas in tests/schemas/knative
with unknown fields refused; then the webhook-only rules (knative_lint) and Sentinel's
cross-file rules (sentinel_rules). Each validator has a negative test: it must refuse a broken
manifest, or it proves nothing.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import knative_lint
import kubernetes_validate
import kustomize_lite
import pytest
import sentinel_rules
import yaml

from functions.languages import load_registry

REPO = Path(__file__).resolve().parent.parent
SCHEMAS = REPO / "tests" / "schemas" / "knative"  # upstream copies, see its README.md
LANGUAGES = list(load_registry())  # every language of the registry has an executor
KUSTOMIZATIONS = [
    "base",
    "overlays/dev",
    "overlays/production",
    "overlays/gvisor",
    "overlays/security-profiles-operator",
]
KUBERNETES_VERSION = "1.32.0"  # the oldest Kubernetes Knative 1.22 supports
KNATIVE_GROUPS = ("serving.knative.dev", "eventing.knative.dev")
# The Knative Services besides one per executor (config/base/3xx-executor-<language>.yaml).
SERVICES = {"ingress", "sink", "broker-ingress", "callbacks"}
EXECUTORS = {
    p.stem.partition("-executor-")[2] for p in (REPO / "config" / "base").glob("3*-executor-*.yaml")
}
# Triggers besides one execute-<language> per executor: the sink's three, callbacks' two.
OTHER_TRIGGERS = {"sink-started", "sink-completed", "sink-failed"} | {
    "callbacks-completed",
    "callbacks-failed",
}

Resource = dict[str, Any]


@functools.cache
def render(kustomization: str, renderer: str = "auto") -> list[Resource]:
    """The rendered kustomization: kubectl when installed (or asked for), else kustomize_lite."""
    path = REPO / "config" / kustomization
    if renderer == "kubectl" or (renderer == "auto" and shutil.which("kubectl")):
        out = subprocess.run(
            ["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=True
        ).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]
    return kustomize_lite.build(path)


@functools.cache
def crd_schema(relative: str) -> dict[str, Any]:
    """A CRD's v1 openAPIV3Schema, with additionalProperties: false wherever it lists properties.

    Upstream schemas let unknown fields through in places (x-kubernetes-preserve-unknown-fields);
    the API server would prune or the webhook refuse them, so a typo must fail here instead.
    """
    crd = yaml.safe_load((SCHEMAS / relative).read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema: dict[str, Any] = copy.deepcopy(version["schema"]["openAPIV3Schema"])

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    if relative == "eventing/trigger.yaml":
        # spec.delivery.timeout is a feature-flagged field the CRD lets in as an unknown field.
        features = yaml.safe_load((SCHEMAS / "eventing" / "config-features.yaml").read_text())
        if features["data"].get("delivery-timeout") == "enabled":
            delivery = schema["properties"]["spec"]["properties"]["delivery"]
            delivery["properties"]["timeout"] = {"type": "string"}
    close(schema)
    schema["properties"]["apiVersion"] = {"type": "string"}
    schema["properties"]["kind"] = {"type": "string"}
    # The root's metadata is ObjectMeta, which the CRD leaves open: check the part we write.
    schema["properties"]["metadata"] = {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    return schema


def crd_errors(resource: Resource) -> list[str]:
    """Where `resource` breaks its Knative CRD's schema (Service or Trigger)."""
    relative = {"Service": "serving/service.yaml", "Trigger": "eventing/trigger.yaml"}
    validator = jsonschema.Draft4Validator(crd_schema(relative[resource["kind"]]))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(resource)]


def core_errors(resource: Resource) -> list[str]:
    """What kubernetes-validate --strict says about a core resource (empty when valid)."""
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{list(exc.absolute_path)}: {exc.message}"]
    return []


def features_for(kustomization: str) -> dict[str, str]:
    """Knative's config-features defaults, plus the flags the overlay ships a patch for."""
    features = knative_lint.knative_defaults(SCHEMAS / "serving", "config-features")
    patch = REPO / "config" / kustomization / "knative-features.yaml"
    if patch.exists():
        features.update(yaml.safe_load(patch.read_text())["data"])
    return features


def lint(kustomization: str, resources: list[Resource]) -> list[str]:
    """Webhook-only problems of every Knative Service in a render."""
    defaults = knative_lint.knative_defaults(SCHEMAS / "serving", "config-defaults")
    features = features_for(kustomization)
    return [
        problem
        for ksvc in sentinel_rules.ksvcs(resources).values()
        for problem in knative_lint.lint_service(ksvc, defaults, features)
    ]


def base_copy() -> list[Resource]:
    return copy.deepcopy(render("base"))


def executor(resources: list[Resource], language: str = "python") -> Resource:
    return sentinel_rules.ksvcs(resources)[f"executor-{language}"]


# --- rendering -------------------------------------------------------------------------------


def test_schemas_are_found_beside_the_checkout() -> None:
    assert (SCHEMAS / "serving" / "service.yaml").is_file(), f"no Knative schemas in {SCHEMAS}"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_renders_with_labels(kustomization: str) -> None:
    resources = render(kustomization)
    assert len(resources) > 15
    for resource in resources:
        labels = resource["metadata"].get("labels") or {}
        name = f"{resource['kind']}/{resource['metadata']['name']}"
        assert labels.get("app.kubernetes.io/part-of") == "sentinel", name
        if resource["kind"] != "Namespace":
            assert labels.get("app.kubernetes.io/component"), name


def _masked(resources: list[Resource]) -> dict[tuple[str, ...], str]:
    """Resources by identity, with generated ConfigMap hash suffixes masked."""
    text = {
        (r["apiVersion"], r["kind"], r["metadata"]["name"]): yaml.safe_dump(r, sort_keys=True)
        for r in resources
    }
    pattern = re.compile(r"(sentinel-(?:executor-settings|settings|triggers))-[a-z0-9]{10}\b")
    return {
        tuple(pattern.sub(r"\1-HASH", part) for part in key): pattern.sub(r"\1-HASH", body)
        for key, body in text.items()
    }


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_python_renderer_matches_kubectl(kustomization: str) -> None:
    if not shutil.which("kubectl"):
        pytest.skip("kubectl absent: the manifests are validated from kustomize_lite's render")
    assert _masked(render(kustomization, "lite")) == _masked(render(kustomization, "kubectl"))


def test_python_renderer_gives_new_content_a_new_name() -> None:
    config_map = {"metadata": {"name": "x"}, "data": {"A": "1"}}
    changed = {"metadata": {"name": "x"}, "data": {"A": "2"}}
    assert kustomize_lite.config_map_hash(config_map) != kustomize_lite.config_map_hash(changed)


def test_python_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(kustomize_lite.KustomizeError, match="commonLabels"):
        kustomize_lite.build(tmp_path)


# --- core kinds: kubernetes-validate --strict --------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_core_kinds_are_valid(kustomization: str) -> None:
    # The Security Profiles Operator's SeccompProfile has no schema here:
    # tests/test_seccomp_profile.py checks its spec against the kubelet's file.
    core = [
        r
        for r in render(kustomization)
        if not r["apiVersion"].startswith((*KNATIVE_GROUPS, "security-profiles-operator."))
    ]
    assert {r["kind"] for r in core} >= {"Deployment", "StatefulSet", "NetworkPolicy", "Service"}
    problems = {r["metadata"]["name"]: core_errors(r) for r in core}
    assert not {name: errors for name, errors in problems.items() if errors}


def test_core_validation_refuses_an_unknown_field() -> None:
    resources = base_copy()
    dispatcher = next(r for r in resources if r["kind"] == "Deployment")
    dispatcher["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert core_errors(dispatcher)


def test_core_validation_refuses_a_wrong_type() -> None:
    resources = base_copy()
    redis = next(r for r in resources if r["kind"] == "StatefulSet")
    redis["spec"]["replicas"] = "one"
    assert core_errors(redis)


# --- Knative kinds: the CRD schemas, closed --------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_knative_services_match_the_crd(kustomization: str) -> None:
    services = sentinel_rules.ksvcs(render(kustomization))
    assert set(services) == SERVICES | {f"executor-{language}" for language in EXECUTORS}
    assert set(LANGUAGES) == EXECUTORS
    assert {name: crd_errors(s) for name, s in services.items() if crd_errors(s)} == {}


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_cluster_triggers_match_the_crd(kustomization: str) -> None:
    triggers = sentinel_rules.triggers(render(kustomization))
    names = {t["metadata"]["name"] for t in triggers}
    assert names == OTHER_TRIGGERS | {f"execute-{language}" for language in EXECUTORS}
    assert [crd_errors(t) for t in triggers if crd_errors(t)] == []


def test_local_triggers_match_the_crd() -> None:
    local = [d for d in yaml.safe_load_all((REPO / "config" / "triggers.yaml").read_text()) if d]
    assert local
    assert [crd_errors(t) for t in local if crd_errors(t)] == []


@pytest.mark.parametrize(
    "path",
    [
        ("spec", "template", "spec", "containers", 0, "imagePullPolicyy"),
        ("spec", "template", "spec", "containerConcurency"),
        ("spec", "template", "metadata", "annotation"),
        ("spec", "traffics"),
        ("metadata", "label"),
    ],
)
def test_crd_validation_refuses_unknown_fields(path: tuple[str | int, ...]) -> None:
    ksvc = executor(base_copy())
    node: Any = ksvc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = "x"
    assert crd_errors(ksvc)


def test_crd_validation_refuses_a_trigger_typo() -> None:
    trigger = sentinel_rules.triggers(base_copy())[0]
    trigger["spec"]["subscribr"] = trigger["spec"].pop("subscriber")
    assert crd_errors(trigger)


# --- what only Knative's webhook enforces ------------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_knative_webhook_rules_hold(kustomization: str) -> None:
    assert lint(kustomization, render(kustomization)) == []


def _annotate(key: str, value: str) -> Any:
    def mutate(ksvc: Resource) -> None:
        ksvc["spec"]["template"]["metadata"]["annotations"][f"autoscaling.knative.dev/{key}"] = (
            value
        )

    return mutate


def _container(**fields: Any) -> Any:
    def mutate(ksvc: Resource) -> None:
        ksvc["spec"]["template"]["spec"]["containers"][0].update(fields)

    return mutate


def _spec(**fields: Any) -> Any:
    def mutate(ksvc: Resource) -> None:
        ksvc["spec"]["template"]["spec"].update(fields)

    return mutate


BROKEN = {
    "min-scale": _annotate("min-scale", "-1"),
    "max-scale": _annotate("max-scale", "ten"),
    "class": _annotate("class", "keda"),
    "metric": _annotate("metric", "cpu"),
    "target": _annotate("target", "0"),
    "above containerConcurrency": _annotate("target", "5"),
    "scale-down-delay": _annotate("scale-down-delay", "1 minute"),
    "above max-scale": _annotate("min-scale", "20"),
    "timeoutSeconds": _spec(timeoutSeconds=601),
    "containerConcurrency": _spec(containerConcurrency=1001),
    "runtimeClassName": _spec(runtimeClassName="gvisor"),
    "securityContext needs": _spec(securityContext={"fsGroup": 10001}),
    "reserved port": _container(ports=[{"name": "http1", "containerPort": 8012}]),
    "more than one container port": _container(
        ports=[{"containerPort": 8080}, {"containerPort": 8081}]
    ),
    "port name": _container(ports=[{"name": "http", "containerPort": 8080}]),
    "reserved env var PORT": _container(env=[{"name": "PORT", "value": "8080"}]),
    "reserved env var K_SERVICE": _container(env=[{"name": "K_SERVICE", "value": "x"}]),
    "fieldRef": _container(
        env=[{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    ),
    "is not the container port": _container(readinessProbe={"httpGet": {"path": "/", "port": 9}}),
    "reserved path /tmp": _container(volumeMounts=[{"name": "scratch", "mountPath": "/tmp"}]),
    "procMount": _container(securityContext={"procMount": "Unmasked"}),
    "privileged": _container(securityContext={"privileged": True}),
}


@pytest.mark.parametrize("expected", sorted(BROKEN))
def test_knative_webhook_rules_refuse(expected: str) -> None:
    resources = base_copy()
    BROKEN[expected](executor(resources))
    problems = lint("base", resources)
    assert any(expected in problem for problem in problems), problems


def test_runtime_class_only_where_the_overlay_enables_the_flag() -> None:
    gvisor = render("overlays/gvisor")
    assert all(
        s["spec"]["template"]["spec"].get("runtimeClassName") == "gvisor"
        for n, s in sentinel_rules.ksvcs(gvisor).items()
        if n.startswith("executor-")
    )
    assert lint("overlays/gvisor", gvisor) == []
    assert any("runtimeClassName needs" in p for p in lint("overlays/production", gvisor))


def test_feature_patch_names_a_real_knative_flag() -> None:
    upstream = knative_lint.knative_defaults(SCHEMAS / "serving", "config-features")
    ours = yaml.safe_load((REPO / "config/overlays/gvisor/knative-features.yaml").read_text())
    assert set(ours["data"]) <= set(upstream)
    assert ours["data"] == {"kubernetes.podspec-runtimeclassname": "enabled"}


# --- Sentinel's cross-file rules ---------------------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_sentinel_rules_hold(kustomization: str) -> None:
    assert sentinel_rules.all_problems(render(kustomization)) == []


def _executor_env(name: str, value: str) -> Any:
    def mutate(resources: list[Resource]) -> None:
        container = executor(resources)["spec"]["template"]["spec"]["containers"][0]
        container["env"] = [v for v in container["env"] if v["name"] != name]
        container["env"].append({"name": name, "value": value})

    return mutate


def _drop_policy(name: str) -> Any:
    def mutate(resources: list[Resource]) -> None:
        resources[:] = [r for r in resources if r["metadata"]["name"] != name]

    return mutate


def _policy_allowing_executor_egress(resources: list[Resource]) -> None:
    resources.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "leak", "namespace": "sentinel"},
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": "executor"}},
                "policyTypes": ["Egress"],
                "egress": [{}],
            },
        }
    )


def _add_redis_secret_to_executor(resources: list[Resource]) -> None:
    container = executor(resources)["spec"]["template"]["spec"]["containers"][0]
    secret = {"secretKeyRef": {"name": "sentinel-redis", "key": "url"}}
    container["env"].append({"name": "REDIS_URL", "valueFrom": secret})


def _set(path: tuple[Any, ...], value: Any, target: str = "executor-python") -> Any:
    def mutate(resources: list[Resource]) -> None:
        node: Any = next(r for r in resources if r["metadata"]["name"] == target)
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value

    return mutate


CONTAINER = ("spec", "template", "spec", "containers", 0)
INCONSISTENT = {
    "!= SENTINEL_SLOTS": _executor_env("SENTINEL_SLOTS", "3"),
    "SENTINEL_HEALTH_THREADS": _executor_env("SENTINEL_HEALTH_THREADS", "0"),
    "SENTINEL_LANGUAGES": _executor_env("SENTINEL_LANGUAGES", "java"),
    "memory limit": _set((*CONTAINER, "resources", "limits", "memory"), "1Gi"),
    "does not scale to zero": _set(
        ("spec", "template", "metadata", "annotations", "autoscaling.knative.dev/min-scale"), "1"
    ),
    "service-account token": _set(
        ("spec", "template", "spec", "automountServiceAccountToken"), True
    ),
    "reads a Secret": _add_redis_secret_to_executor,
    "readOnlyRootFilesystem": _set(
        (*CONTAINER, "securityContext", "readOnlyRootFilesystem"), False
    ),
    "not running as uid": _set((*CONTAINER, "securityContext", "runAsUser"), 0),
    "missing cpu/memory limits": _set(
        (*CONTAINER, "resources"), {"requests": {"cpu": 1, "memory": 1}}
    ),
    "SENTINEL_WORK_DIR": _set((*CONTAINER, "volumeMounts"), []),
    "delivery timeout": _set(("spec", "template", "spec", "timeoutSeconds"), 900),
    "in flight": _set(
        ("spec", "template", "metadata", "annotations", "autoscaling.knative.dev/max-scale"), "1"
    ),
    "no Knative Service": _drop_policy("executor-go"),
    "not DNS and the broker ingress only": _policy_allowing_executor_egress,
    "not denied by default": _drop_policy("default-deny"),
    "REDIS_URL set in plain text": _set(
        ("spec", "template", "spec", "containers", 0, "env"),
        [{"name": "REDIS_URL", "value": "redis://:pw@redis:6379/0"}],
        target="dispatcher",
    ),
    "is committed": lambda rs: rs.append(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "sentinel"}}
    ),
    "SENTINEL_NAMESPACE": _set(("metadata", "namespace"), "default", target="dispatcher"),
}


# --- the broker ingress, callbacks and their network paths -------------------------------------


def _policy(resources: list[Resource], name: str) -> Resource:
    return next(
        r for r in resources if r["kind"] == "NetworkPolicy" and r["metadata"]["name"] == name
    )


def _edit_policy(name: str, edit: Any) -> Any:
    def mutate(resources: list[Resource]) -> None:
        edit(_policy(resources, name)["spec"])

    return mutate


def _drop_from_in_list(policy: str, component: str) -> Any:
    def edit(spec: Resource) -> None:
        rules = spec.get("ingress") or spec.get("egress")
        peers = rules[0].get("from") or rules[0].get("to")
        selector = peers[0]["podSelector"] if "ingress" in spec else spec["podSelector"]
        selector["matchExpressions"][0]["values"].remove(component)

    return _edit_policy(policy, edit)


def _callbacks_env(variables: list[Resource]) -> Any:
    def mutate(resources: list[Resource]) -> None:
        container = sentinel_rules.ksvcs(resources)["callbacks"]["spec"]["template"]["spec"]
        kept = [v for v in container["containers"][0]["env"] if v["name"] != variables[0]["name"]]
        container["containers"][0]["env"] = kept + variables[1:]

    return mutate


def _dead_letter_to_nowhere(resources: list[Resource]) -> None:
    config_map = sentinel_rules.config_map(resources, "sentinel-triggers")
    text = config_map["data"]["triggers.yaml"]
    dead = "kind: Service, name: callbacks}\n      uri: /dead"
    assert dead in text
    config_map["data"]["triggers.yaml"] = text.replace(dead, dead.replace("callbacks", "gone"))


def _drop_ksvc(name: str) -> Any:
    def mutate(resources: list[Resource]) -> None:
        resources[:] = [
            r
            for r in resources
            if not (
                r["kind"] == "Service"
                and r["apiVersion"].startswith("serving.")
                and r["metadata"]["name"] == name
            )
        ]

    return mutate


INCONSISTENT |= {
    "K_SINK is not the broker ingress": _executor_env("K_SINK", "http://sink.sentinel"),
    "the executors' K_SINK": _drop_ksvc("broker-ingress"),
    "dead-letter sink has no Knative Service gone": _dead_letter_to_nowhere,
    "SENTINEL_CALLBACK_SECRET set in plain text": _callbacks_env(
        [
            {"name": "SENTINEL_CALLBACK_SECRET"},
            {"name": "SENTINEL_CALLBACK_SECRET", "value": "hunter2"},
        ]
    ),
    "SENTINEL_CALLBACK_SECRET does not come from a Secret": _callbacks_env(
        [{"name": "SENTINEL_CALLBACK_SECRET"}]
    ),
    # An executor's egress rule that also admits every pod of the namespace (Redis, the sink).
    "executors egress to": _edit_policy(
        "executor-egress-broker-ingress",
        lambda spec: spec["egress"][1]["to"][0].update(podSelector={}),
    ),
    "executor: egress to addresses outside the cluster": _edit_policy(
        "executor-egress-broker-ingress",
        lambda spec: spec["egress"][0]["to"].append({"ipBlock": {"cidr": "0.0.0.0/0"}}),
    ),
    "dispatcher: egress to addresses outside the cluster": _edit_policy(
        "subscribers-egress",
        lambda spec: spec["egress"][0]["to"].append({"ipBlock": {"cidr": "0.0.0.0/0"}}),
    ),
    "executors cannot reach the broker ingress": _drop_policy("broker-ingress-from-executors"),
    # Each side of a path: Redis's ingress rule, and the client's egress rule (callbacks' has an
    # ipBlock too, which must not count as a way to Redis).
    "broker-ingress cannot reach Redis": _drop_from_in_list("redis-ingress", "broker-ingress"),
    "callbacks cannot reach Redis": _drop_from_in_list("redis-clients-egress", "callbacks"),
    "executors may reach Redis": _edit_policy(
        "redis-ingress",
        lambda spec: spec["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0][
            "values"
        ].append("executor"),
    ),
    "does not except ['169.254.0.0/16']": _edit_policy(
        "callbacks-egress",
        lambda spec: spec["egress"][0]["to"][0]["ipBlock"]["except"].remove("169.254.0.0/16"),
    ),
    "ports other than 80/443": _edit_policy(
        "callbacks-egress", lambda spec: spec["egress"][0]["ports"].append({"port": 22})
    ),
    "callbacks may egress anywhere": _edit_policy(
        "callbacks-egress", lambda spec: spec["egress"][0].pop("to")
    ),
    "callbacks cannot reach the internet": _drop_policy("callbacks-egress"),
    # Probes: the deep /health as the ingress's probe; a dispatcher without its check.
    "ingress: readinessProbe is not GET /readyz": _set(
        (*CONTAINER, "readinessProbe"), {"httpGet": {"path": "/health"}}, target="ingress"
    ),
    "ingress: livenessProbe is not GET /healthz": _set(
        (*CONTAINER, "livenessProbe"), {"tcpSocket": {}}, target="ingress"
    ),
    "dispatcher: readinessProbe is not": _set(
        (*CONTAINER, "readinessProbe", "exec", "command"), ["true"], target="dispatcher"
    ),
    "is not on a writable volume": _set((*CONTAINER, "volumeMounts"), [], target="dispatcher"),
}


@pytest.mark.parametrize("expected", sorted(INCONSISTENT))
def test_sentinel_rules_refuse(expected: str) -> None:
    resources = base_copy()
    INCONSISTENT[expected](resources)
    problems = sentinel_rules.all_problems(resources)
    assert any(expected in problem for problem in problems), problems


def test_executors_cover_the_cluster_triggers_and_the_local_languages() -> None:
    resources = render("base")
    routed = {
        t["spec"]["filter"]["attributes"].get("language")
        for t in sentinel_rules.triggers(resources)
    }
    executors = {
        n.removeprefix("executor-")
        for n in sentinel_rules.ksvcs(resources)
        if n.startswith("executor-")
    }
    assert routed - {None} == executors == set(LANGUAGES)
    local = [d for d in yaml.safe_load_all((REPO / "config" / "triggers.yaml").read_text()) if d]
    assert {t["metadata"]["name"] for t in local} <= {
        t["metadata"]["name"] for t in sentinel_rules.triggers(resources)
    }


TRIGGER_FILES = [
    REPO / "config" / "triggers.yaml",
    *sorted((REPO / "config").glob("*/**/triggers.yaml")),
]


@pytest.mark.parametrize("path", TRIGGER_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_only_jobs_with_a_callback_are_routed_to_the_callbacks_service(path: Path) -> None:
    """Every trigger file routes to callbacks only events marked callback=true (the others would
    cost each job an HTTP hop and a Redis read for nothing)."""
    found = 0
    for doc in yaml.safe_load_all(path.read_text()):
        if not isinstance(doc, dict) or doc.get("kind") != "Trigger":
            continue
        if doc["spec"]["subscriber"].get("ref", {}).get("name") == "callbacks":
            assert doc["spec"]["filter"]["attributes"].get("callback") == "true", doc
            found += 1
    assert found == 2


def test_the_operator_overlay_points_every_executor_at_the_operators_profile() -> None:
    rendered = render("overlays/security-profiles-operator")
    profiles = [r for r in rendered if r["kind"] == "SeccompProfile"]
    assert [p["metadata"]["name"] for p in profiles] == ["sentinel-executor"]
    executors = [
        r
        for r in rendered
        if r["kind"] == "Service" and r["metadata"]["name"].startswith("executor-")
    ]
    assert len(executors) == len(EXECUTORS)
    for executor in executors:
        container = executor["spec"]["template"]["spec"]["containers"][0]
        assert container["securityContext"]["seccompProfile"] == {
            "type": "Localhost",
            "localhostProfile": "operator/sentinel/sentinel-executor.json",
        }
