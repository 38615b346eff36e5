"""The native API's wire shapes: a pydantic model for every request and response body of
ingress/api.py (the submission itself is the contract's, eventing/contract.py).

The routes build their answers through these models, and GET /openapi.json is generated from
them (ingress/openapi.py), so the document and the answers have one source. Field names are
camelCase on the wire (docs/api.md); every field of the seed's examples is here, and additions
stand beside them. Response models ignore fields they do not name rather than refuse them, so
the schema never forbids what a later addition puts beside.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.alias_generators import to_camel

from eventing import contract


def _never_null(schema: dict[str, Any]) -> None:
    """wire() leaves out what is None, so no answer holds a null: the schema says so."""
    for prop in schema.get("properties", {}).values():
        choices = prop.get("anyOf")
        if choices and {"type": "null"} in choices:
            rest = [c for c in choices if c != {"type": "null"}]
            del prop["anyOf"]
            prop.pop("default", None)
            if len(rest) == 1:
                prop.update(rest[0])
            else:
                prop["anyOf"] = rest


class Shape(BaseModel):
    """camelCase on the wire, snake_case in Python; None is left out, never sent as null."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, json_schema_extra=_never_null
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict, camelCase, without the optional fields left unset (None)."""
        return self.model_dump(by_alias=True, exclude_none=True)


# --- requests (beside contract.SubmissionRequest) ---------------------------------------------


class BatchRequest(Shape):
    """POST /api/execute/batch: up to SENTINEL_MAX_BATCH submissions (the document fills the
    configured number in as maxItems)."""

    model_config = ConfigDict(extra="forbid")

    submissions: list[contract.SubmissionRequest] = Field(min_length=1)


class StructuredEvent(BaseModel):
    """A CloudEvent 1.0 in structured JSON mode for POST /events; `data` is a submission."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    type: Literal["dev.sentinel.execution.requested"]
    source: str
    id: str
    requestid: str | None = None
    data: contract.SubmissionRequest


# --- errors ------------------------------------------------------------------------------------


class ErrorDetail(Shape):
    """One problem pydantic found, by field (camelCase, dotted)."""

    field: str
    message: str


class Error(Shape):
    """Every native error answer (ingress/errors.py). Beside `field` an error may say `limit`,
    `supported` or `language`, which is why further fields are allowed."""

    model_config = ConfigDict(extra="allow")

    error: str
    message: str | None = None
    field: str | None = None
    details: list[ErrorDetail] | None = None


# --- submitting --------------------------------------------------------------------------------


class Queued(Shape):
    """202 of a submission: the seed's id, status, timestamp and message."""

    id: str
    status: contract.JobStatus
    timestamp: str
    message: str


class BatchEntry(Shape):
    """One submission of a batch: queued (its Queued fields) or rejected (its error)."""

    model_config = ConfigDict(extra="allow")

    index: int
    status: Literal["queued", "rejected"]
    id: str | None = None
    timestamp: str | None = None
    message: str | None = None
    code: int | None = Field(default=None, description="HTTP status of a rejection")
    error: str | None = None
    field: str | None = None


class BatchAnswer(Shape):
    """The answer to a batch: one entry per submission, in order, and the counts."""

    error: str | None = None
    jobs: list[BatchEntry]
    queued: int
    rejected: int


# --- reading a job -----------------------------------------------------------------------------


class JobHead(Shape):
    """What every job shows: the seed's id, status and timestamp."""

    id: str
    status: contract.JobStatus
    timestamp: str


# GET /job/{id}: the head, then the result's own fields once there is a result (the contract's
# ExecutionResult less id and schemaVersion, each optional: a queued job has none of them), or
# `error` once failed. Derived from the contract so a field added there is documented here.
# eventing/jobview.py builds it.
Job: type[JobHead] = create_model(  # type: ignore[call-overload]
    "Job",
    __base__=JobHead,
    __doc__="id, status and timestamp; once completed, the result's fields too (ExecutionResult "
    "without id and schemaVersion); once failed, `error`.",
    **{
        name: (cast(Any, info.annotation) | None, Field(default=None, alias=info.alias))
        for name, info in contract.ExecutionResult.model_fields.items()
        if name not in ("id", "schema_version")
    },
)


class Progress(Shape):
    """Test cases run of those submitted."""

    completed: int = Field(ge=0)
    total: int = Field(ge=1)


class Status(Shape):
    """GET /api/status/{id}: the job's life only, no output."""

    id: str
    status: contract.JobStatus
    timestamp: str
    updated_at: str | None = None
    verdict: contract.Verdict | None = None
    progress: Progress


# --- the service -------------------------------------------------------------------------------


class LanguageHealth(Shape):
    """A language's executor as /health last saw it."""

    status: str
    executor: str


class Health(Shape):
    """GET /health: the seed's status, timestamp, redis and queues; services, languages and (on
    one machine) supervisor are additions."""

    status: Literal["healthy", "unhealthy"]
    timestamp: str
    redis: Literal["connected", "disconnected"]
    queues: dict[str, Literal["healthy", "unhealthy"]]
    services: dict[str, dict[str, Any]]
    languages: dict[str, LanguageHealth] | None = None
    supervisor: dict[str, Any] | None = None


class Counts(Shape):
    """A backlog and its job counters: waiting (unread), active (being delivered), and the job
    store's totalJobs, completed and failed."""

    waiting: int = Field(ge=0)
    active: int = Field(ge=0)
    total_jobs: int = Field(ge=0)
    completed: int = Field(ge=0)
    failed: int = Field(ge=0)


class Container(Shape):
    """One language's executor, as the seed names it ("python-1"), with its Counts."""

    container_id: str
    language: str
    waiting: int = Field(ge=0)
    active: int = Field(ge=0)
    total_jobs: int = Field(ge=0)
    completed: int = Field(ge=0)
    failed: int = Field(ge=0)


class Load(Shape):
    """GET /load: the seed's timestamp, totalWaiting, totalActive and containers; languages and
    totals are the same numbers by language, beside them."""

    timestamp: str
    total_waiting: int = Field(ge=0)
    total_active: int = Field(ge=0)
    containers: list[Container]
    languages: dict[str, Counts] | None = None
    totals: Counts | None = None


class LanguageEntry(Shape):
    """One language offered, as its executor describes it (ingress/catalog.py)."""

    model_config = ConfigDict(extra="allow")

    name: str
    display_name: str
    description: str
    example: str
    version: str
    aliases: list[str] | None = None


class Languages(Shape):
    """GET /languages and /api/languages."""

    languages: list[LanguageEntry]
    count: int


class Probe(Shape):
    """GET /healthz and /readyz (not in the OpenAPI document: probes for Kubernetes)."""

    status: Literal["ok", "unavailable"]
    error: str | None = None


# (model, mode) of every schema the document's components hold, requests in validation mode.
COMPONENTS: tuple[tuple[type[BaseModel], Literal["validation", "serialization"]], ...] = (
    (contract.SubmissionRequest, "validation"),
    (BatchRequest, "validation"),
    (StructuredEvent, "validation"),
    (Error, "serialization"),
    (Queued, "serialization"),
    (BatchAnswer, "serialization"),
    (Job, "serialization"),
    (Status, "serialization"),
    (Health, "serialization"),
    (Load, "serialization"),
    (Languages, "serialization"),
    (contract.ExecutionResult, "serialization"),
    (contract.TestResult, "serialization"),
)
