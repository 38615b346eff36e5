"""Triggers: which events go to which subscriber, and how hard to try (Knative's Trigger shape).

The configuration file is a YAML stream of `eventing.knative.dev/v1` Trigger resources, so the
same file documents routing for people who know Knative and validates against its CRD schema.
We read the parts a broker needs: `spec.filter.attributes` (exact match on event attributes),
or Knative's newer `spec.filters` (a list of `exact`, `prefix`, `suffix`, `all`, `any`, `not`
expressions, all of which must hold; when present it replaces `filter`, as in Knative; `cesql`
is refused), `spec.subscriber` (`uri`, or a `ref` to a Service resolved to a URL) and
`spec.delivery`. Sentinel's own settings ride in annotations under `sentinel.dev/`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eventing.contract import REQUESTED

CONCURRENCY_ANNOTATION = "sentinel.dev/max-concurrent-deliveries"

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


class TriggerConfigError(ValueError):
    """The trigger file is not what the broker can run; the message names the trigger."""


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration such as PT0.5S or PT1M30S (Knative's delivery format)."""
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT"):
        raise TriggerConfigError(f"not an ISO 8601 duration: {text!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (
        parts.get("d", 0) * 86400
        + parts.get("h", 0) * 3600
        + parts.get("m", 0) * 60
        + parts.get("s", 0)
    )


@dataclass(frozen=True)
class DeliverySpec:
    """Knative's delivery spec: retries after the first attempt, backoff, timeout, dead letter."""

    retry: int = 3
    backoff_policy: str = "exponential"
    backoff_delay: float = 0.2
    timeout: float = 60.0
    dead_letter_sink: str | None = None

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based), as Knative computes it."""
        if self.backoff_policy == "linear":
            return self.backoff_delay * attempt
        return float(self.backoff_delay * 2 ** (attempt - 1))


Predicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class Trigger:
    """One route: events whose attributes pass the filter go to `subscriber`.

    `filters` are the exact attribute matches (all of `filter.attributes`, or the top-level
    `exact` expressions of `filters`): they name the trigger's type and language for /load and
    the language catalog. `expression`, when set, is the whole `filters` list, and decides.
    """

    name: str
    filters: Mapping[str, str]
    subscriber: str
    delivery: DeliverySpec = field(default_factory=DeliverySpec)
    concurrency: int = 4
    expression: Predicate | None = None

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """Whether an event with these attributes goes to this trigger (empty filter: all)."""
        if self.expression is not None:
            return self.expression(attributes)
        return all(_value(attributes, k) == v for k, v in self.filters.items())

    @property
    def language(self) -> str | None:
        """The language this trigger routes, when it filters on one."""
        return self.filters.get("language")

    def serves(self, language: str | None = None, event_type: str = REQUESTED) -> bool:
        """Whether this trigger takes one language's `event_type` events to its subscriber (that
        language's when `language` is given): for the default type, whether it routes a
        language's jobs to its executor. The one test of it: the language catalog, /load,
        Judge0's /workers, the backlog check and the broker ingress all ask this."""
        return (
            self.language is not None
            and self.filters.get("type") == event_type
            and language in (None, self.language)
        )


def load_triggers(
    path: Path, service_urls: Mapping[str, str], namespace: str = "default"
) -> list[Trigger]:
    """Read a YAML stream of Trigger resources; other kinds in the stream are skipped."""
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise TriggerConfigError(f"cannot read triggers from {path}: {exc}") from exc
    triggers = [
        _trigger(doc, service_urls, namespace)
        for doc in documents
        if isinstance(doc, dict) and doc.get("kind") == "Trigger"
    ]
    names = [t.name for t in triggers]
    if len(set(names)) != len(names):
        raise TriggerConfigError(f"duplicate trigger names in {path}")
    if not triggers:
        raise TriggerConfigError(f"no Trigger resources in {path}")
    return triggers


def languages(triggers: Iterable[Trigger], event_type: str) -> list[str]:
    """Languages that have a trigger for `event_type` (the ones the service can run)."""
    return sorted({str(t.language) for t in triggers if t.serves(event_type=event_type)})


def _trigger(doc: dict[str, Any], service_urls: Mapping[str, str], namespace: str) -> Trigger:
    metadata = doc.get("metadata") or {}
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise TriggerConfigError("a Trigger without metadata.name")
    spec = doc.get("spec") or {}
    attributes = (spec.get("filter") or {}).get("attributes") or {}
    if not isinstance(attributes, dict):
        raise TriggerConfigError(f"trigger {name}: filter.attributes must be a mapping")
    expression: Predicate | None = None
    if spec.get("filters") is not None:
        dialects = spec["filters"]
        if not isinstance(dialects, list):
            raise TriggerConfigError(f"trigger {name}: filters must be a list")
        expression = _all([_expression(d, name) for d in dialects])
        attributes = {}
        for dialect in dialects:
            exact = dialect.get("exact") if isinstance(dialect, dict) else None
            if isinstance(exact, dict):
                attributes.update(exact)
    annotations = metadata.get("annotations") or {}
    try:
        concurrency = int(annotations.get(CONCURRENCY_ANNOTATION, 4))
    except ValueError as exc:
        raise TriggerConfigError(f"trigger {name}: {CONCURRENCY_ANNOTATION} not a number") from exc
    return Trigger(
        name=name,
        filters={str(k): str(v) for k, v in attributes.items()},
        subscriber=_destination(spec.get("subscriber"), service_urls, namespace, name),
        delivery=_delivery(spec.get("delivery") or {}, service_urls, namespace, name),
        concurrency=max(1, concurrency),
        expression=expression,
    )


def _value(attributes: Mapping[str, Any], name: str) -> str | None:
    value = attributes.get(name)
    return None if value is None else str(value)


def _all(parts: list[Predicate]) -> Predicate:
    return lambda attributes: all(part(attributes) for part in parts)


_COMPARISONS: dict[str, Callable[[str, str], bool]] = {
    "exact": lambda value, want: value == want,
    "prefix": lambda value, want: value.startswith(want),
    "suffix": lambda value, want: value.endswith(want),
}


def _expression(dialect: Any, trigger: str) -> Predicate:
    """One Knative filter expression (SubscriptionsAPI dialects) as a predicate."""
    if not isinstance(dialect, dict) or len(dialect) != 1:
        raise TriggerConfigError(f"trigger {trigger}: each filter has exactly one dialect")
    ((kind, operand),) = dialect.items()
    if kind in ("exact", "prefix", "suffix"):
        if not isinstance(operand, dict) or not operand:
            raise TriggerConfigError(f"trigger {trigger}: {kind} needs attribute: value pairs")
        pairs = {str(k): str(v) for k, v in operand.items()}
        test = _COMPARISONS[kind]

        def compare(attributes: Mapping[str, Any]) -> bool:
            found = ((_value(attributes, name), want) for name, want in pairs.items())
            return all(value is not None and test(value, want) for value, want in found)

        return compare
    if kind in ("all", "any"):
        if not isinstance(operand, list):
            raise TriggerConfigError(f"trigger {trigger}: {kind} takes a list of filters")
        parts = [_expression(d, trigger) for d in operand]
        if kind == "all":
            return _all(parts)
        return lambda attributes: any(part(attributes) for part in parts)
    if kind == "not":
        inner = _expression(operand, trigger)
        return lambda attributes: not inner(attributes)
    raise TriggerConfigError(f"trigger {trigger}: filter dialect {kind!r} is not supported")


def _destination(dest: Any, service_urls: Mapping[str, str], namespace: str, trigger: str) -> str:
    """Resolve a Knative Destination (uri, or ref plus optional relative uri) to a URL."""
    if not isinstance(dest, dict):
        raise TriggerConfigError(f"trigger {trigger}: subscriber must be a mapping")
    uri = dest.get("uri")
    ref = dest.get("ref")
    if ref is None:
        if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
            raise TriggerConfigError(f"trigger {trigger}: subscriber needs an absolute uri or ref")
        return uri
    ref_name = ref.get("name") if isinstance(ref, dict) else None
    if not isinstance(ref_name, str):
        raise TriggerConfigError(f"trigger {trigger}: subscriber.ref needs a name")
    ref_ns = ref.get("namespace") or namespace
    base = service_urls.get(ref_name) or f"http://{ref_name}.{ref_ns}.svc.cluster.local"
    return base + (uri if isinstance(uri, str) else "")


def _delivery(
    spec: dict[str, Any], service_urls: Mapping[str, str], namespace: str, trigger: str
) -> DeliverySpec:
    policy = spec.get("backoffPolicy", "exponential")
    if policy not in ("linear", "exponential"):
        raise TriggerConfigError(f"trigger {trigger}: backoffPolicy is linear or exponential")
    dead_letter = spec.get("deadLetterSink")
    return DeliverySpec(
        retry=int(spec.get("retry", 3)),
        backoff_policy=policy,
        backoff_delay=parse_duration(spec.get("backoffDelay", "PT0.2S")),
        timeout=parse_duration(spec.get("timeout", "PT60S")),
        dead_letter_sink=(
            _destination(dead_letter, service_urls, namespace, trigger) if dead_letter else None
        ),
    )
