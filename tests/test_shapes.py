"""Every answer has its documented shape: the models of ingress/shapes.py, ingress/judge0/shapes.py
and ingress/piston/shapes.py, as GET /openapi.json publishes them. In-process (`api` of
tests/conftest.py: Flask's test client through the real WSGI app) against the real Redis; no
executor runs, so the jobs stay queued."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator

from eventing import contract
from eventing.callbacks import callback_body
from eventing.jobview import job_view
from ingress.judge0.translate import ALL_FIELDS, DEFAULT_FIELDS


@pytest.fixture(scope="module")
def document(api: FlaskClient) -> dict[str, Any]:
    answer = api.get("/openapi.json")
    assert answer.status_code == 200
    return dict(answer.json or {})


def _conforms(document: dict[str, Any], name: str, body: Any) -> None:
    """`body` validates against the component `name` (its $refs resolved in the document)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(body)]
    assert not errors, f"{name}: {errors[:3]} in {json.dumps(body)[:400]}"


def test_every_component_is_a_valid_schema_and_every_layer_is_there(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    assert {"SubmissionRequest", "Queued", "Job", "Status", "BatchAnswer", "Load"} <= set(schemas)
    assert {"Judge0SubmissionRequest", "Judge0Submission", "Judge0ConfigInfo"} <= set(schemas)
    assert {"PistonExecuteRequest", "PistonExecuteResponse", "PistonRuntime"} <= set(schemas)
    # The seed's fields, every one (docs/api.md): kept, whatever is added beside them.
    job = schemas["Job"]["properties"]
    assert {"id", "status", "timestamp", "verdict", "output", "error", "compileOutput"} <= set(job)
    assert {"executionTime", "memoryKb", "testCases"} <= set(job)
    container = schemas["Container"]["properties"]
    assert {"containerId", "language", "waiting", "active", "completed", "failed", "totalJobs"} <= (
        set(container)
    )
    assert list(schemas["Judge0Submission"]["properties"]) == list(ALL_FIELDS)


def test_native_answers_match_the_document(api: FlaskClient, document: dict[str, Any]) -> None:
    queued = api.post("/api/execute", json={"language": "python", "code": "print(1)"})
    assert queued.status_code == 202
    _conforms(document, "Queued", queued.json)
    job_id = (queued.json or {})["id"]
    job = api.get(f"/job/{job_id}")
    assert job.json == {"id": job_id, "status": "queued", "timestamp": queued.json["timestamp"]}
    _conforms(document, "Job", job.json)
    status = api.get(f"/api/status/{job_id}")
    _conforms(document, "Status", status.json)
    assert (status.json or {})["progress"] == {"completed": 0, "total": 1}
    missing = api.get("/job/no-such-job")
    assert missing.status_code == 404
    _conforms(document, "Error", missing.json)
    mixed = api.post(
        "/api/execute/batch",
        json={"submissions": [{"language": "python", "code": "print(2)"}, {"language": "cobol"}]},
    )
    assert mixed.status_code == 202
    _conforms(document, "BatchAnswer", mixed.json)
    assert [entry["status"] for entry in (mixed.json or {})["jobs"]] == ["queued", "rejected"]
    refused = api.post("/api/execute/batch", json={"submissions": [{"language": "python"}]})
    assert refused.status_code == 400
    _conforms(document, "BatchAnswer", refused.json)
    invalid = api.post("/api/execute", json={"language": "python", "code": 5})
    assert invalid.status_code == 400
    _conforms(document, "Error", invalid.json)
    assert (invalid.json or {})["field"] == "code"
    event = {
        "specversion": "1.0",
        "type": contract.REQUESTED,
        "source": "/tests/shapes",
        "id": uuid.uuid4().hex,
        "data": {"language": "python", "code": "print(3)"},
    }
    headers = {"Content-Type": "application/cloudevents+json"}
    first = api.post("/events", data=json.dumps(event), headers=headers)
    again = api.post("/events", data=json.dumps(event), headers=headers)
    assert first.status_code == again.status_code == 202
    _conforms(document, "Queued", again.json)
    assert (again.json or {})["id"] == (first.json or {})["id"]
    _conforms(document, "Load", api.get("/load").json)
    _conforms(document, "Languages", api.get("/languages").json)


def test_judge0_answers_match_their_models(api: FlaskClient, document: dict[str, Any]) -> None:
    created = api.post("/judge0/submissions", json={"source_code": "print(1)", "language_id": 71})
    assert created.status_code == 201
    _conforms(document, "Judge0Token", created.json)
    token = (created.json or {})["token"]
    every = api.get(f"/judge0/submissions/{token}?fields=*")
    _conforms(document, "Judge0Submission", every.json)
    assert list(every.json or {}) == list(ALL_FIELDS)
    assert (every.json or {})["status"] == {"id": 1, "description": "In Queue"}
    default = api.get(f"/judge0/submissions/{token}")
    assert list(default.json or {}) == list(DEFAULT_FIELDS)
    refused = api.post("/judge0/submissions", json={"language_id": 71, "cpu_time_limit": -1})
    assert refused.status_code == 422
    assert refused.json == {
        "source_code": ["can't be blank"],
        "cpu_time_limit": ["must be greater than 0"],
    }
    unknown = api.get("/judge0/submissions/nope")
    assert unknown.status_code == 404
    _conforms(document, "Judge0Error", unknown.json)
    _conforms(document, "Judge0ConfigInfo", api.get("/judge0/config_info").json)
    _conforms(document, "Judge0About", api.get("/judge0/about").json)
    for status in api.get("/judge0/statuses").json or []:
        _conforms(document, "Judge0Status", status)
    for worker in api.get("/judge0/workers").json or []:
        _conforms(document, "Judge0Worker", worker)
    for entry in api.get("/judge0/languages").json or []:
        _conforms(document, "Judge0LanguageRef", entry)
    _conforms(document, "Judge0Language", api.get("/judge0/languages/71").json)


def test_piston_answers_match_their_models(api: FlaskClient, document: dict[str, Any]) -> None:
    runtimes = api.get("/api/v2/runtimes").json or []
    assert runtimes
    for runtime in runtimes:
        _conforms(document, "PistonRuntime", runtime)
    unknown = api.post(
        "/api/v2/execute",
        json={"language": "python", "version": "^0.2", "files": [{"content": "print(1)"}]},
    )
    assert unknown.status_code == 400
    _conforms(document, "PistonMessage", unknown.json)
    assert (unknown.json or {})["message"] == "python-^0.2 runtime is unknown"


def test_one_job_view_for_get_job_and_the_callback() -> None:
    """GET /job/{id} and the callbacks' POST body are one function's (eventing/jobview.py)."""
    result = contract.ExecutionResult(id="j1", language="python", verdict="accepted", output="1")
    record = {"id": "j1", "status": "completed", "timestamp": "t", "result": result.wire()}
    assert json.loads(callback_body(record, result)) == job_view(record)
    failed = contract.Failed(id="j1", reason="no executor")
    gone = {"id": "j1", "status": "failed", "timestamp": "t", "reason": "no executor"}
    assert json.loads(callback_body(gone, failed)) == job_view(gone)
    assert job_view(gone)["error"] == "no executor"
