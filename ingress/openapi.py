"""GET /openapi.json: the OpenAPI 3.1 document of the public API, built from the contract.

The request and result schemas come from the pydantic models every service validates with
(eventing/contract.py), so the document cannot drift from what the API accepts; the paths, the
shapes the ingress adds around them (queued, status, errors) and the limits are written here,
with the configured numbers (batch size, wait bound) filled in from the settings. When API keys
are configured, the document says which operations need one.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from eventing import contract
from ingress import validation
from ingress.catalog import SandboxLimits
from ingress.settings import IngressSettings

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(
    schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _header(description: str, kind: str = "integer") -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


RATE_HEADERS = {
    "X-RateLimit-Limit": _header("Requests allowed in the window."),
    "X-RateLimit-Remaining": _header("Requests left in the window."),
    "X-RateLimit-Reset": _header("Unix time (s) when the oldest counted request leaves it."),
}
JOB_LINKS = {
    name: {"operationId": operation, "parameters": {"id": "$response.body#/id"}}
    for name, operation in (("Job", "job"), ("Result", "result"), ("Status", "status"))
}
REQUEST_ID = {"X-Request-Id": _header("The request id (yours, or one made up).", "string")}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        400: "Invalid request; `field` names the offending field (camelCase, dotted).",
        401: "A valid X-API-Key header is required.",
        404: "No such job (unknown, or expired).",
        413: "The body is larger than the configured maximum.",
        429: "Rate limit exceeded.",
        503: "A language's backlog is full, or the job store is unavailable.",
    }
    answers: dict[str, Any] = {}
    for code in codes:
        headers: dict[str, Any] = dict(REQUEST_ID)
        if code == 429:
            headers |= RATE_HEADERS | {"Retry-After": _header("Seconds to wait.")}
        if code == 503:
            headers |= {"Retry-After": _header("Seconds to wait (backlog full).")}
        answers[str(code)] = _json(_ref("Error"), meaning[code], headers)
    return answers


def _components(
    settings: IngressSettings, languages: list[str], maxima: dict[str, int]
) -> dict[str, Any]:
    _, top = models_json_schema(
        [
            (contract.SubmissionRequest, "validation"),
            (contract.ExecutionResult, "serialization"),
            (contract.TestResult, "serialization"),
        ],
        ref_template=REF,
        by_alias=True,
    )
    schemas: dict[str, Any] = dict(top["$defs"])
    if languages:
        # What this deployment runs (ids and aliases; matching also ignores case).
        schemas["SubmissionRequest"]["properties"]["language"]["enum"] = languages
    statuses = ["queued", "running", "completed", "failed"]
    verdict = {"type": "string", "enum": list(contract.VERDICTS)}
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "field": {"type": "string"},
            "details": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }
    schemas["Queued"] = {
        "type": "object",
        "required": ["id", "status", "timestamp", "message"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": statuses},
            "timestamp": {"type": "string"},
            "message": {"type": "string"},
        },
    }
    result_fields = schemas["ExecutionResult"]["properties"]
    schemas["Job"] = {
        "type": "object",
        "description": "id, status and timestamp; once completed, the result's fields too "
        "(ExecutionResult without id and schemaVersion); once failed, `error`.",
        "required": ["id", "status", "timestamp"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": statuses},
            "timestamp": {"type": "string"},
            **{k: v for k, v in result_fields.items() if k not in ("id", "schemaVersion")},
        },
    }
    schemas["Status"] = {
        "type": "object",
        "required": ["id", "status", "timestamp", "progress"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": statuses},
            "timestamp": {"type": "string"},
            "updatedAt": {"type": "string"},
            "verdict": verdict,
            "progress": {
                "type": "object",
                "required": ["completed", "total"],
                "properties": {
                    "completed": {"type": "integer", "minimum": 0},
                    "total": {"type": "integer", "minimum": 1},
                },
            },
        },
    }
    schemas["BatchRequest"] = {
        "type": "object",
        "required": ["submissions"],
        "additionalProperties": False,
        "properties": {
            "submissions": {
                "type": "array",
                "minItems": 1,
                "maxItems": settings.max_batch,
                "items": _ref("SubmissionRequest"),
            }
        },
    }
    schemas["BatchAnswer"] = {
        "type": "object",
        "required": ["jobs", "queued", "rejected"],
        "properties": {
            "error": {"type": "string"},
            "queued": {"type": "integer"},
            "rejected": {"type": "integer"},
            "jobs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "status"],
                    "properties": {
                        "index": {"type": "integer"},
                        "status": {"type": "string", "enum": ["queued", "rejected"]},
                        "id": {"type": "string"},
                        "timestamp": {"type": "string"},
                        "message": {"type": "string"},
                        "code": {"type": "integer", "description": "HTTP status of a rejection"},
                        "error": {"type": "string"},
                        "field": {"type": "string"},
                    },
                },
            },
        },
    }
    schemas["StructuredEvent"] = {
        "type": "object",
        "description": "A CloudEvent 1.0 in structured JSON mode; `data` is a submission.",
        "required": ["specversion", "type", "source", "id", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "type": {"const": contract.REQUESTED},
            "source": {"type": "string"},
            "id": {"type": "string"},
            "requestid": {"type": "string"},
            "data": _ref("SubmissionRequest"),
        },
    }
    schemas["Health"] = {
        "type": "object",
        "description": "The seed's status, timestamp, redis and queues; services, languages "
        "and (on one machine) supervisor are additions.",
        "required": ["status", "timestamp", "redis", "queues", "services"],
        "properties": {
            "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
            "timestamp": {"type": "string"},
            "redis": {"type": "string", "enum": ["connected", "disconnected"]},
            "queues": {
                "type": "object",
                "additionalProperties": {"type": "string", "enum": ["healthy", "unhealthy"]},
            },
            "services": {"type": "object"},
            "languages": {"type": "object"},
            "supervisor": {"type": "object"},
        },
    }
    counts = {
        name: {"type": "integer", "minimum": 0}
        for name in ("waiting", "active", "completed", "failed", "totalJobs")
    }
    schemas["Load"] = {
        "type": "object",
        "description": "The seed's timestamp, totalWaiting, totalActive and containers; "
        "languages and totals are the same numbers by language, beside them.",
        "required": ["timestamp", "totalWaiting", "totalActive", "containers"],
        "properties": {
            "timestamp": {"type": "string"},
            "totalWaiting": {"type": "integer", "minimum": 0},
            "totalActive": {"type": "integer", "minimum": 0},
            "containers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["containerId", "language", *counts],
                    "properties": {
                        "containerId": {"type": "string"},
                        "language": {"type": "string"},
                        **counts,
                    },
                },
            },
            "languages": {"type": "object"},
            "totals": {"type": "object"},
        },
    }
    schemas["Languages"] = {
        "type": "object",
        "required": ["languages", "count"],
        "properties": {
            "count": {"type": "integer"},
            "languages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "displayName", "description", "example", "version"],
                    "properties": {
                        k: {"type": "string"}
                        for k in ("name", "displayName", "description", "example", "version")
                    }
                    | {"aliases": {"type": "array", "items": {"type": "string"}}},
                },
            },
        },
    }
    _edge_checks(schemas, maxima)
    return schemas


def _edge_checks(schemas: dict[str, Any], maxima: dict[str, int]) -> None:
    """What ingress/validation.py checks beyond the contract, written into the schemas: each
    limit's maximum (the executor's), the bound on `args` and no NUL in one, and base64 that
    decodes in a file whose encoding says base64."""
    for key, prop in schemas["Limits"]["properties"].items():
        if key in maxima:
            for choice in prop.get("anyOf", [prop]):
                if choice.get("type") == "integer":
                    choice["maximum"] = maxima[key]
    args = schemas["SubmissionRequest"]["properties"]["args"]
    args["maxItems"] = validation.MAX_ARGS
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
    secured: dict[str, Any] = {"security": [{"ApiKey": []}]} if keyed else {}
    auth = (401,) if keyed else ()
    job_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    submit_ok = RATE_HEADERS | REQUEST_ID
    execute = {
        "summary": "Submit code to run (single input, or test cases)",
        **secured,
        "parameters": [
            {
                "name": "wait",
                "in": "query",
                "schema": {"type": "string", "enum": ["true", "false", "1", "0"]},
                "description": "true: answer the result (200) if the job finishes in time.",
            },
            {
                "name": "timeout",
                "in": "query",
                "schema": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": settings.wait_max_s,
                },
                "description": f"Seconds to wait (default {settings.wait_default_s:g}).",
            },
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("SubmissionRequest")}},
        },
        "responses": {
            "200": _json(_ref("Job"), "Finished within the wait (wait=true only).", REQUEST_ID),
            "202": _json(_ref("Queued"), "Queued; read it at /job/{id}.", submit_ok)
            | {"links": JOB_LINKS},
            **_errors(400, *auth, 413, 429, 503),
        },
    }
    read_errors = _errors(*auth, 404, 429, 503)
    job_get = {
        "summary": "The job, with its result once finished",
        **secured,
        "parameters": [job_id],
        "responses": {"200": _json(_ref("Job"), "The job.", RATE_HEADERS), **read_errors},
    }
    languages = {
        "summary": "Languages offered, with versions",
        **secured,
        "responses": {
            "200": _json(_ref("Languages"), "The languages."),
            **_errors(*auth, 429, 503),
        },
    }
    ce_headers = [
        {"name": f"ce-{name}", "in": "header", "required": False, "schema": {"type": "string"}}
        for name in ("specversion", "type", "source", "id")
    ]
    paths: dict[str, Any] = {
        "/api/execute": {"post": execute | {"operationId": "execute"}},
        "/execute": {"post": execute | {"operationId": "executeSeed"}},
        "/api/execute/batch": {
            "post": {
                "operationId": "executeBatch",
                "summary": f"Submit up to {settings.max_batch} submissions in one transaction",
                **secured,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("BatchRequest")}},
                },
                "responses": {
                    "202": _json(_ref("BatchAnswer"), "One entry per submission.", submit_ok),
                    "400": _json(
                        {"anyOf": [_ref("BatchAnswer"), _ref("Error")]},
                        "The batch itself is invalid, or no item was valid.",
                    ),
                    **_errors(*auth, 413, 429, 503),
                },
            }
        },
        "/events": {
            "post": {
                "operationId": "receiveEvent",
                "summary": f"Take a {contract.REQUESTED} CloudEvent (binary or structured mode)",
                **secured,
                "parameters": ce_headers,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/cloudevents+json": {"schema": _ref("StructuredEvent")},
                        "application/json": {"schema": _ref("SubmissionRequest")},
                    },
                },
                "responses": {
                    "202": _json(_ref("Queued"), "Queued (or queued before: same job).", submit_ok)
                    | {"links": JOB_LINKS},
                    **_errors(400, *auth, 413, 429, 503),
                },
            }
        },
        "/job/{id}": {"get": job_get | {"operationId": "job"}},
        "/api/result/{id}": {"get": job_get | {"operationId": "result"}},
        "/api/status/{id}": {
            "get": {
                "operationId": "status",
                "summary": "The job's status and progress only",
                **secured,
                "parameters": [job_id],
                "responses": {
                    "200": _json(_ref("Status"), "The status.", RATE_HEADERS),
                    **read_errors,
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Redis, the dispatcher, each subscriber and each language's executor",
                "responses": {
                    "200": _json(_ref("Health"), "All healthy."),
                    "503": _json(_ref("Health"), "Something is down."),
                },
            }
        },
        "/load": {
            "get": {
                "operationId": "load",
                "summary": "Backlog per language",
                "responses": {
                    "200": _json(_ref("Load"), "The load."),
                    **_errors(503),
                },
            }
        },
        "/languages": {"get": languages | {"operationId": "languages"}},
        "/api/languages": {"get": languages | {"operationId": "apiLanguages"}},
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1.")},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus text exposition",
                "responses": {
                    "200": {
                        "description": "Metrics.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(503),
                },
            }
        },
    }
    components: dict[str, Any] = {
        "schemas": _components(settings, offered or [], maxima or SandboxLimits().maxima())
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
            "description": "Run untrusted code in a sandbox. See docs/api.md.",
        },
        "paths": paths,
        "components": components,
    }
