"""Trigger configuration in Knative's shape: durations, filters, destinations, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventing.triggers import (
    DeliverySpec,
    TriggerConfigError,
    languages,
    load_triggers,
    parse_duration,
)
from functions.languages import load_registry

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT0.5S", 0.5), ("PT1M30S", 90), ("PT2H", 7200), ("P1D", 86400), ("P1DT1S", 86401)],
)
def test_iso_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "5s", "PT-1S", "1 minute"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(TriggerConfigError):
        parse_duration(text)


def test_backoff_follows_knative_policies() -> None:
    exponential = DeliverySpec(backoff_policy="exponential", backoff_delay=0.5)
    linear = DeliverySpec(backoff_policy="linear", backoff_delay=0.5)
    assert [exponential.backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert [linear.backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 1.5]


def test_the_shipped_triggers_route_python_and_results() -> None:
    triggers = load_triggers(
        REPO / "config" / "triggers.yaml", {"executor-python": "http://127.0.0.1:1"}
    )
    by_name = {t.name: t for t in triggers}
    execute = by_name["execute-python"]
    assert execute.subscriber == "http://127.0.0.1:1"
    assert execute.matches({"type": "dev.sentinel.execution.requested", "language": "python"})
    assert not execute.matches({"type": "dev.sentinel.execution.requested", "language": "java"})
    assert not execute.matches({"type": "dev.sentinel.execution.completed", "language": "python"})
    assert by_name["sink-completed"].subscriber == "http://sink.default.svc.cluster.local"
    # Every language of the registry is routed, and nothing else is.
    assert sorted(languages(triggers, "dev.sentinel.execution.requested")) == sorted(
        load_registry()
    )


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "triggers.yaml"
    path.write_text(text)
    return path


def test_uri_subscriber_and_dead_letter_sink(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
kind: Trigger
metadata: {name: t}
spec:
  subscriber: {uri: "http://x:1/hook"}
  delivery:
    retry: 2
    backoffPolicy: linear
    backoffDelay: PT1S
    deadLetterSink: {ref: {kind: Service, name: dls}, uri: /dead}
""",
    )
    (trigger,) = load_triggers(path, {"dls": "http://127.0.0.1:9"})
    assert trigger.subscriber == "http://x:1/hook"
    assert trigger.filters == {}
    assert trigger.delivery.retry == 2
    assert trigger.delivery.dead_letter_sink == "http://127.0.0.1:9/dead"


@pytest.mark.parametrize(
    "text",
    [
        "kind: Trigger\nmetadata: {}\nspec: {subscriber: {uri: 'http://x'}}",
        "kind: Trigger\nmetadata: {name: a}\nspec: {subscriber: {uri: 'relative'}}",
        "kind: Trigger\nmetadata: {name: a}\nspec: {subscriber: {ref: {kind: Service}}}",
        "kind: Trigger\nmetadata: {name: a}\nspec: {subscriber: {uri: 'http://x'},"
        " delivery: {backoffPolicy: random}}",
        "kind: ConfigMap\nmetadata: {name: only-other-kinds}",
        "kind: Trigger\nmetadata: {name: a}\nspec: {subscriber: {uri: 'http://x'}}\n---\n"
        "kind: Trigger\nmetadata: {name: a}\nspec: {subscriber: {uri: 'http://y'}}",
        ": not yaml : [",
    ],
)
def test_broken_trigger_files_are_refused_with_a_reason(tmp_path: Path, text: str) -> None:
    with pytest.raises(TriggerConfigError):
        load_triggers(_write(tmp_path, text), {})


def test_knative_filters_dialects(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
kind: Trigger
metadata: {name: pipeline}
spec:
  subscriber: {uri: "http://x:1/"}
  filters:
    - exact: {type: dev.sentinel.execution.completed}
    - prefix: {source: /sentinel/}
    - any: [{exact: {language: python}}, {suffix: {language: script}}]
    - not: {exact: {subject: secret}}
""",
    )
    (trigger,) = load_triggers(path, {})
    base = {"type": "dev.sentinel.execution.completed", "source": "/sentinel/executor"}
    assert trigger.matches({**base, "language": "python", "subject": "j"})
    assert trigger.matches({**base, "language": "typescript", "subject": "j"})
    assert not trigger.matches({**base, "language": "java", "subject": "j"})
    assert not trigger.matches({**base, "language": "python", "subject": "secret"})
    assert not trigger.matches({**base, "source": "/other", "language": "python"})
    assert not trigger.matches({"source": "/sentinel/x", "language": "python"})
    # The exact parts name the trigger's type (for /load and the catalog).
    assert trigger.filters == {"type": "dev.sentinel.execution.completed"}


def test_filters_replace_filter_as_in_knative(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
kind: Trigger
metadata: {name: t}
spec:
  subscriber: {uri: "http://x:1/"}
  filter: {attributes: {type: a}}
  filters: [{exact: {type: b}}]
""",
    )
    (trigger,) = load_triggers(path, {})
    assert trigger.matches({"type": "b"}) and not trigger.matches({"type": "a"})


def test_a_missing_attribute_never_matches_an_exact_filter() -> None:
    triggers = load_triggers(REPO / "config" / "triggers.yaml", {})
    execute = next(t for t in triggers if t.name == "execute-python")
    assert not execute.matches({"type": "dev.sentinel.execution.requested"})


@pytest.mark.parametrize(
    "filters",
    [
        "{exact: {type: a}}",
        "[{cesql: \"type = 'a'\"}]",
        "[{exact: {}}]",
        "[{exact: {a: b}, prefix: {a: b}}]",
        "[{all: {exact: {a: b}}}]",
    ],
)
def test_unsupported_or_malformed_filters_are_refused(tmp_path: Path, filters: str) -> None:
    text = (
        "kind: Trigger\nmetadata: {name: a}\n"
        f"spec: {{subscriber: {{uri: 'http://x'}}, filters: {filters}}}"
    )
    with pytest.raises(TriggerConfigError):
        load_triggers(_write(tmp_path, text), {})
