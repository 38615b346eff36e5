"""GET /openapi.json: the OpenAPI 3.1 document of the public API, generated from its models.

Every schema is a pydantic model's JSON schema (`models_json_schema`): the native API's
(ingress/shapes.py, the submission from eventing/contract.py), and beside them, as components,
Judge0's and Piston's (ingress/judge0/shapes.py, ingress/piston/shapes.py). What is written here
is only what no model knows: the operations (a table below), and the numbers of this deployment
(languages offered, the executors' maxima, batch size, wait bound, whether API keys are on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic.json_schema import models_json_schema

from eventing import contract
from ingress import shapes
from ingress.catalog import ReportedLimits
from ingress.judge0 import shapes as judge0_shapes
from ingress.piston import shapes as piston_shapes
from ingress.settings import IngressSettings

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _header(description: str, kind: str = "integer") -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


RATE_HEADERS = {
    "X-RateLimit-Limit": _header("Requests allowed in the window."),
    "X-RateLimit-Remaining": _header("Requests left in the window."),
    "X-RateLimit-Reset": _header("Unix time (s) when the oldest counted request leaves it."),
}
REQUEST_ID = {"X-Request-Id": _header("The request id (yours, or one made up).", "string")}
SUBMIT_HEADERS = RATE_HEADERS | REQUEST_ID
JOB_LINKS = {
    name: {"operationId": operation, "parameters": {"id": "$response.body#/id"}}
    for name, operation in (("Job", "job"), ("Result", "result"), ("Status", "status"))
}
ERRORS = {
    400: "Invalid request; `field` names the offending field (camelCase, dotted).",
    401: "A valid X-API-Key header is required.",
    404: "No such job (unknown, or expired).",
    413: "The body is larger than the configured maximum.",
    429: "Rate limit exceeded.",
    503: "A language's backlog is full, or the job store is unavailable.",
}
JOB_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
CE_HEADERS = [
    {"name": f"ce-{name}", "in": "header", "required": False, "schema": {"type": "string"}}
    for name in ("specversion", "type", "source", "id")
]


@dataclass(frozen=True)
class Answer:
    """One documented response: a schema (a component's name, or a schema), what it means, and
    its headers and links."""

    schema: str | dict[str, Any]
    description: str
    headers: dict[str, Any] = field(default_factory=dict)
    links: dict[str, Any] | None = None
    media: str = "application/json"

    def render(self) -> dict[str, Any]:
        schema = _ref(self.schema) if isinstance(self.schema, str) else self.schema
        answer: dict[str, Any] = {
            "description": self.description,
            "content": {self.media: {"schema": schema}},
        }
        if self.headers:
            answer["headers"] = self.headers
        if self.links:
            answer["links"] = self.links
        return answer


@dataclass(frozen=True)
class Operation:
    """One operation of the table: its answers, request body, parameters and errors. `keyed`
    operations need the API key when keys are configured (the others are open: ingress/app.py
    OPEN_ENDPOINTS)."""

    summary: str
    answers: dict[int, Answer]
    errors: tuple[int, ...] = ()
    body: dict[str, str] | None = None  # media type -> component name
    parameters: tuple[dict[str, Any], ...] = ()
    keyed: bool = True


def _error_answer(code: int) -> Answer:
    headers: dict[str, Any] = dict(REQUEST_ID)
    if code == 429:
        headers |= RATE_HEADERS | {"Retry-After": _header("Seconds to wait.")}
    if code == 503:
        headers |= {"Retry-After": _header("Seconds to wait (backlog full).")}
    return Answer("Error", ERRORS[code], headers)


def _operations(settings: IngressSettings) -> dict[str, dict[str, tuple[str, Operation]]]:
    """path -> method -> (operationId, operation): every route of ingress/api.py but the probes
    (/healthz, /readyz)."""
    wait = (
        {
            "name": "wait",
            "in": "query",
            "schema": {"type": "string", "enum": ["true", "false", "1", "0"]},
            "description": "true: answer the result (200) if the job finishes in time.",
        },
        {
            "name": "timeout",
            "in": "query",
            "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": settings.wait_max_s},
            "description": f"Seconds to wait (default {settings.wait_default_s:g}).",
        },
    )
    execute = Operation(
        "Submit code to run (single input, or test cases)",
        {
            200: Answer("Job", "Finished within the wait (wait=true only).", REQUEST_ID),
            202: Answer("Queued", "Queued; read it at /job/{id}.", SUBMIT_HEADERS, JOB_LINKS),
        },
        (400, 413, 429, 503),
        body={"application/json": "SubmissionRequest"},
        parameters=wait,
    )
    job = Operation(
        "The job, with its result once finished",
        {200: Answer("Job", "The job.", RATE_HEADERS)},
        (404, 429, 503),
        parameters=(JOB_ID,),
    )
    languages = Operation(
        "Languages offered, with versions",
        {200: Answer("Languages", "The languages.")},
        (429, 503),
    )
    batch = Operation(
        f"Submit up to {settings.max_batch} submissions in one transaction",
        {
            202: Answer("BatchAnswer", "One entry per submission.", SUBMIT_HEADERS),
            400: Answer(
                {"anyOf": [_ref("BatchAnswer"), _ref("Error")]},
                "The batch itself is invalid, or no item was valid.",
            ),
        },
        (413, 429, 503),
        body={"application/json": "BatchRequest"},
    )
    events = Operation(
        f"Take a {contract.REQUESTED} CloudEvent (binary or structured mode)",
        {202: Answer("Queued", "Queued (or queued before: same job).", SUBMIT_HEADERS, JOB_LINKS)},
        (400, 413, 429, 503),
        body={
            "application/cloudevents+json": "StructuredEvent",
            "application/json": "SubmissionRequest",
        },
        parameters=tuple(CE_HEADERS),
    )
    status = Operation(
        "The job's status and progress only",
        {200: Answer("Status", "The status.", RATE_HEADERS)},
        (404, 429, 503),
        parameters=(JOB_ID,),
    )
    health = Operation(
        "Redis, the dispatcher, each subscriber and each language's executor",
        {200: Answer("Health", "All healthy."), 503: Answer("Health", "Something is down.")},
        keyed=False,
    )
    load = Operation(
        "Backlog per language", {200: Answer("Load", "The load.")}, (503,), keyed=False
    )
    document = Operation(
        "This document", {200: Answer({"type": "object"}, "OpenAPI 3.1.")}, keyed=False
    )
    metrics = Operation(
        "Prometheus text exposition",
        {200: Answer({"type": "string"}, "Metrics.", media="text/plain")},
        (503,),
        keyed=False,
    )
    return {
        "/api/execute": {"post": ("execute", execute)},
        "/execute": {"post": ("executeSeed", execute)},
        "/api/execute/batch": {"post": ("executeBatch", batch)},
        "/events": {"post": ("receiveEvent", events)},
        "/job/{id}": {"get": ("job", job)},
        "/api/result/{id}": {"get": ("result", job)},
        "/api/status/{id}": {"get": ("status", status)},
        "/health": {"get": ("health", health)},
        "/load": {"get": ("load", load)},
        "/languages": {"get": ("languages", languages)},
        "/api/languages": {"get": ("apiLanguages", languages)},
        "/openapi.json": {"get": ("openapi", document)},
        "/metrics": {"get": ("metrics", metrics)},
    }


def _render(operation_id: str, op: Operation, keyed: bool) -> dict[str, Any]:
    """One operation as OpenAPI writes it; 401 joins the errors when API keys are on."""
    secured = keyed and op.keyed
    rendered: dict[str, Any] = {"summary": op.summary, "operationId": operation_id}
    if secured:
        rendered["security"] = [{"ApiKey": []}]
    if op.parameters:
        rendered["parameters"] = list(op.parameters)
    if op.body:
        rendered["requestBody"] = {
            "required": True,
            "content": {media: {"schema": _ref(name)} for media, name in op.body.items()},
        }
    errors = sorted({*op.errors, *((401,) if secured else ())} - set(op.answers))
    answers = {code: answer.render() for code, answer in op.answers.items()}
    answers |= {code: _error_answer(code).render() for code in errors}
    rendered["responses"] = {str(code): answers[code] for code in sorted(answers)}
    return rendered


def _components(
    settings: IngressSettings, languages: list[str], maxima: dict[str, int]
) -> dict[str, Any]:
    """Every model's schema, with what this deployment adds to them: the languages it runs,
    the batch size, and what ingress/validation.py checks beyond the contract."""
    models = [*shapes.COMPONENTS, *judge0_shapes.COMPONENTS, *piston_shapes.COMPONENTS]
    _, top = models_json_schema(models, ref_template=REF, by_alias=True)
    schemas: dict[str, Any] = dict(top["$defs"])
    if languages:
        # What this deployment runs (ids and aliases; matching also ignores case).
        schemas["SubmissionRequest"]["properties"]["language"]["enum"] = languages
    schemas["BatchRequest"]["properties"]["submissions"]["maxItems"] = settings.max_batch
    _edge_checks(schemas, maxima)
    return schemas


def _edge_checks(schemas: dict[str, Any], maxima: dict[str, int]) -> None:
    """What ingress/validation.py checks beyond the contract, written into the schemas: each
    limit's maximum (the executor's), no NUL in an argument, and base64 that decodes in a file
    whose encoding says base64."""
    for key, prop in schemas["Limits"]["properties"].items():
        if key in maxima:
            for choice in prop.get("anyOf", [prop]):
                if choice.get("type") == "integer":
                    choice["maximum"] = maxima[key]
    args = schemas["SubmissionRequest"]["properties"]["args"]
    args["items"] = {"type": "string", "pattern": "^[^\\x00]*$"}
    schemas["SourceFile"]["if"] = {
        "properties": {"encoding": {"const": "base64"}},
        "required": ["encoding"],
    }
    quad = "[A-Za-z0-9+/]"
    base64 = f"^(?:{quad}{{4}})*(?:{quad}{{3}}=|{quad}{{2}}==)?$"
    schemas["SourceFile"]["then"] = {"properties": {"content": {"pattern": base64}}}


def document(
    settings: IngressSettings,
    offered: list[str] | None = None,
    maxima: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for an ingress with `settings` offering `offered`
    languages (ids and aliases), whose executors apply at most `maxima` (catalog.py)."""
    keyed = bool(settings.api_keys)
    paths = {
        path: {method: _render(op_id, op, keyed) for method, (op_id, op) in methods.items()}
        for path, methods in _operations(settings).items()
    }
    components: dict[str, Any] = {
        "schemas": _components(settings, offered or [], maxima or ReportedLimits().maxima())
    }
    if keyed:
        components["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sentinel",
            "version": "1",
            "description": "Run untrusted code in a sandbox. See docs/api.md; the Judge0 "
            "(/judge0) and Piston (/api/v2) layers' shapes are among the components "
            "(docs/migrating.md).",
        },
        "paths": paths,
        "components": components,
    }
