"""The executor's reports (eventing/executor_shapes.py) on both sides of the hop.

The executor app itself (functions/app.py, built in-process and served on a loopback port) must
answer GET /languages, GET /health and its errors in exactly the fields it always has, each body
a model's own dump; the ingress's catalog and health prober must read a real executor through
the same models, and a report that does not fit (a field missing, a value of the wrong type)
must leave the catalog on its documented defaults with a log line, never an exception.
The log lines are read from a child process's stderr: the JSON lines every service writes
(eventing/logs.py), which an in-process capture would miss once structlog caches its loggers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from eventing.contract import REQUESTED
from eventing.executor_shapes import (
    CompileCacheStats,
    ErrorReport,
    HealthReport,
    LanguageReport,
    LanguagesReport,
    LimitsReport,
)
from eventing.triggers import Trigger
from functions.app import create_app
from functions.languages import REGISTRY_PATH
from functions.settings import ExecutorSettings
from ingress.catalog import LanguageCatalog, ReportedLimits
from ingress.health import Prober
from tests.subscriber import serving, subscriber

REPO = Path(__file__).resolve().parent.parent

# The fields every executor has answered since the seed: renaming one breaks its readers.
LIMIT_FIELDS = {
    "defaultCpuMs", "defaultWallMs", "defaultMemoryMb", "defaultProcesses", "maxCpuMs",
    "maxWallMs", "maxMemoryMb", "maxOutputKb", "maxProcesses", "maxFileSizeKb", "maxStackKb",
    "compileCpuMs", "compileWallMs", "compileMemoryMb",
}  # fmt: skip
LANGUAGE_FIELDS = {"name", "displayName", "description", "example", "version", "aliases"}
HEALTH_FIELDS = {
    "status", "reason", "executor", "languages", "limits", "proc", "compileCache", "user",
    "sandboxUser", "spares", "headersBuilding",
}  # fmt: skip
CACHE_FIELDS = {"hits", "misses", "stores", "evictions", "maxBytes"}


# A language whose toolchain no host has, added to the registry for the `unavailable` list.
ABSENT = """
[absent]
display_name = "Absent"
description = "a toolchain no host has (tests/test_executor_shapes.py)"
source_file = "main.absent"
version = ["/usr/bin/sentinel-absent", "--version"]
run = ["/usr/bin/sentinel-absent", "{source}"]
packages = ["sentinel-absent"]
"""


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> ExecutorSettings:
    """python, and one language not installed; a maximum other than the default, so the
    catalog's limits are seen to come from the executor."""
    registry = tmp_path_factory.mktemp("registry") / "languages.toml"
    registry.write_text(REGISTRY_PATH.read_text() + ABSENT)
    return ExecutorSettings(
        work_dir=tmp_path_factory.mktemp("work"),
        cache_dir=tmp_path_factory.mktemp("cache"),
        registry_path=registry,
        languages=("python", "absent"),
        max_cpu_ms=12_345,
    )


@pytest.fixture(scope="module")
def executor(settings: ExecutorSettings) -> Any:
    return create_app(settings)


def test_languages_is_a_languages_report_field_for_field(executor: Any) -> None:
    body = executor.test_client().get("/languages").get_json()
    report = LanguagesReport.model_validate(body, strict=True)
    assert report.wire() == body  # nothing beside the model's fields, nothing lost
    assert set(body) == {"languages", "unavailable", "limits"}
    assert set(body["limits"]) == LIMIT_FIELDS
    assert body["limits"]["maxCpuMs"] == 12_345
    assert [entry["name"] for entry in body["languages"]] == ["python"]
    assert set(body["languages"][0]) == LANGUAGE_FIELDS
    assert "py" in body["languages"][0]["aliases"]
    assert body["unavailable"] == [
        {"name": "absent", "missing": ["/usr/bin/sentinel-absent"], "packages": ["sentinel-absent"]}
    ]


def test_health_is_a_health_report_field_for_field(executor: Any) -> None:
    answer = executor.test_client().get("/health")
    body = answer.get_json()
    report = HealthReport.model_validate(body, strict=True)
    assert report.wire() == body
    assert set(body) == HEALTH_FIELDS and set(body["compileCache"]) == CACHE_FIELDS
    assert (answer.status_code, report.status) in ((200, "ok"), (503, "unavailable"))
    assert body["languages"] == ["python"] and body["user"] == report.user


def test_errors_are_error_reports(executor: Any) -> None:
    answer = executor.test_client().post("/", data=b"not an event")
    assert answer.status_code == 400
    body = answer.get_json()
    assert set(body) == {"error"} and ErrorReport.model_validate(body).error


def test_the_ingress_reads_a_real_executor_through_the_models(executor: Any) -> None:
    with serving(executor) as url:
        triggers = [
            Trigger(f"execute-{name}", {"type": REQUESTED, "language": name}, url)
            for name in ("python", "absent")
        ]
        catalog = LanguageCatalog(triggers, ttl_s=3600)
        [python] = catalog.describe()  # absent is left out: not installed there
        listed = executor.test_client().get("/languages").get_json()
        assert python == listed["languages"][0]
        assert catalog.resolve("py") == "python"
        assert "missing /usr/bin/sentinel-absent" in (catalog.unavailable("absent") or "")
        assert "Debian packages: sentinel-absent" in (catalog.unavailable("absent") or "")
        assert catalog.limits("python").max_cpu_ms == 12_345
        assert catalog.limits("python").default_output_kb == ReportedLimits().default_output_kb
        probe = Prober(triggers).snapshot()[url]
        assert probe.code in (200, 503) and probe.malformed is None, probe


# --- A report that does not fit: the catalog keeps its defaults, and says so -----------------


def _good_report() -> dict[str, Any]:
    limits = LimitsReport(**{name: 1 for name in LimitsReport.model_fields})
    entry = LanguageReport(
        name="python", display_name="Python 3", description="", example="", version="3", aliases=[]
    )
    return LanguagesReport(languages=[entry], unavailable=[], limits=limits).wire()


def _good_health() -> dict[str, Any]:
    cache = CompileCacheStats(hits=0, misses=0, stores=0, evictions=0, max_bytes=1)
    return HealthReport(
        status="ok", reason=None, executor="e", languages=["python"], limits="rlimit",
        proc="private", compile_cache=cache, user=1000, sandbox_user=10001, spares=0,
    ).wire()  # fmt: skip


def _missing_a_limit() -> dict[str, Any]:
    report = _good_report()
    del report["limits"]["maxCpuMs"]
    return report


def _version_a_number() -> dict[str, Any]:
    report = _good_report()
    report["languages"][0]["version"] = 3
    return report


def _aliases_a_string() -> dict[str, Any]:
    report = _good_report()
    report["languages"][0]["aliases"] = "py"
    return report


# In a child process: a catalog and a prober on `url`, what they answered, as one JSON line on
# stdout; their log lines on stderr.
CHILD = """
import json, sys
from dataclasses import asdict
from eventing import logs
from eventing.contract import REQUESTED
from eventing.triggers import Trigger
from ingress.catalog import LanguageCatalog
from ingress.health import Prober
logs.configure("ingress")
url = sys.argv[1]
triggers = [Trigger("execute-python", {"type": REQUESTED, "language": "python"}, url)]
catalog = LanguageCatalog(triggers, ttl_s=3600)
probe = Prober(triggers).snapshot()[url]
print(json.dumps({"describe": catalog.describe(), "limits": asdict(catalog.limits("python")),
                  "resolve": catalog.resolve("py"), "probe": probe.view()}))
"""


def _json(body: Any) -> Callable[[Request], Response]:
    """A scripted answer: `body` as JSON, 200."""

    def answer(_request: Request) -> Response:
        return Response(json.dumps(body), content_type="application/json")

    return answer


def _ask_a_child(url: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    return json.loads(done.stdout), lines


@pytest.mark.parametrize("malformed", [_missing_a_limit, _version_a_number, _aliases_a_string])
def test_a_malformed_report_leaves_the_catalog_on_its_defaults(malformed: Any) -> None:
    with subscriber() as executor:
        executor.script("/languages", _json(malformed()))
        # Its health says "ok" with a 200 but lacks every other field: still up (the status
        # code decides), and logged.
        executor.script("/health", *[_json({"status": "ok"})] * 5)
        answered, lines = _ask_a_child(executor.url)
    assert answered["describe"] == [
        {
            "name": "python",
            "displayName": "python",
            "description": "",
            "example": "",
            "version": "unknown",
            "aliases": [],
        }
    ]
    assert answered["limits"] == asdict(ReportedLimits())
    assert answered["resolve"] is None  # "py" was only in the refused report
    assert answered["probe"]["status"] == "ok"
    refused = [line for line in lines if "languages report does not fit" in line["message"]]
    assert len(refused) == 1 and refused[0]["level"] == "warning", lines
    assert refused[0]["url"] == executor.url and refused[0]["errors"], refused
    unfit = [line for line in lines if "health report does not fit" in line["message"]]
    assert len(unfit) == 1 and "executor: Field required" in unfit[0]["error"], lines


def test_a_fitting_report_from_a_stranger_is_read() -> None:
    """The same scripted endpoint with the report whole: read, so the refusals above are the
    fields' doing, not the endpoint's."""
    with subscriber() as executor:
        executor.script("/languages", _json(_good_report()))
        executor.script("/health", *[_json(_good_health())] * 5)
        answered, lines = _ask_a_child(executor.url)
    assert answered["describe"][0]["displayName"] == "Python 3"
    assert answered["limits"]["max_cpu_ms"] == 1
    assert not [line for line in lines if "does not fit" in line["message"]], lines
