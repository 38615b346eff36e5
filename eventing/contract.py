"""The event contract every Sentinel service shares: CloudEvent types and versioned payloads.

This is the only module of eventing/ that functions/ may import (docs/architecture.md: the
executor has no Redis access and speaks only HTTP). Payloads are pydantic models so that both
sides of every hop validate the same schema; field names on the wire are camelCase, as in the
public API.

Wire formats are the CloudEvents SDK 2.x (`cloudevents.core`): binary mode for deliveries and
replies, structured JSON inside Redis stream entries.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.spec import SPECVERSION_V1_0
from cloudevents.core.v1.event import CloudEvent
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from eventing import strictjson

SCHEMA_VERSION = "1"

REQUESTED = "dev.sentinel.execution.requested"
STARTED = "dev.sentinel.execution.started"
COMPLETED = "dev.sentinel.execution.completed"
FAILED = "dev.sentinel.execution.failed"
EVENT_TYPES = (REQUESTED, STARTED, COMPLETED, FAILED)

LANGUAGE_EXTENSION = "language"
# Set to "true" on completed and failed events of jobs that have a callbackUrl, so the callbacks
# trigger filters them in and every other job skips that hop.
CALLBACK_EXTENSION = "callback"

Verdict = Literal[
    "accepted",
    "wrong_answer",
    "time_limit_exceeded",
    "memory_limit_exceeded",
    "output_limit_exceeded",
    "runtime_error",
    "compilation_error",
    "internal_error",
]
VERDICTS: tuple[str, ...] = Verdict.__args__  # type: ignore[attr-defined]

JobStatus = Literal["queued", "running", "completed", "failed"]
# Which limit ended a run (a result's `limitExceeded`): wall or CPU time, memory, output, or
# the number of processes (a run that failed at its process limit).
LimitName = Literal["wall_time", "cpu_time", "memory", "output", "processes"]

_FORMAT = JSONFormat()


class ContractError(ValueError):
    """An event or payload that does not follow the contract (the sender's fault: a 4xx)."""


class _Model(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict, camelCase, without unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True)


Compare = Literal["trimmed", "exact", "tokens", "floats", "unordered", "contains", "regex"]


class TestCase(_Model):
    """One input and, optionally, the output it must produce (and what passing it is worth)."""

    __test__ = False  # not a pytest class

    input: str = ""
    expected: str | None = None
    name: str | None = None
    points: float | None = Field(default=None, ge=0)


class Limits(_Model):
    """Per-run resource limits; None means the language's default (bounded by server maxima).

    The compile_* limits apply to the compile step, which otherwise has the server's own.
    """

    cpu_time_ms: int | None = Field(default=None, gt=0)
    wall_time_ms: int | None = Field(default=None, gt=0)
    memory_mb: int | None = Field(default=None, gt=0)
    output_kb: int | None = Field(default=None, gt=0)
    processes: int | None = Field(default=None, gt=0)
    file_size_kb: int | None = Field(default=None, gt=0)
    stack_kb: int | None = Field(default=None, gt=0)
    compile_cpu_time_ms: int | None = Field(default=None, gt=0)
    compile_wall_time_ms: int | None = Field(default=None, gt=0)
    compile_memory_mb: int | None = Field(default=None, gt=0)


class SourceFile(_Model):
    """A file of a multi-file submission, written into the box under `name` (a relative path)."""

    name: str = Field(min_length=1, max_length=255, pattern=r"^[\w.\-/]+$")
    content: str
    encoding: Literal["utf8", "base64"] = "utf8"

    @field_validator("name")
    @classmethod
    def _inside_the_box(cls, name: str) -> str:
        parts = name.split("/")
        if name.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ValueError("a relative path inside the box, without . or .. parts")
        if len(parts) > MAX_FILE_DEPTH:
            raise ValueError(f"at most {MAX_FILE_DEPTH} directories deep")
        return name

    @model_validator(mode="after")
    def _base64_content(self) -> SourceFile:
        # `encoding` comes after `content` on the wire and in the model: checked here too.
        if self.encoding == "base64":
            try:
                base64.b64decode(self.content, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"content of {self.name} is not valid base64: {exc}") from exc
        return self


# Bounds on what a submission hands the sandbox (each also a bound on the executor's work):
# a command line longer than the kernel takes fails inside, so it is refused at the edge.
MAX_ARGS = 128
MAX_ARG_CHARS = 4096
MAX_ARGS_TOTAL_CHARS = 65536
MAX_FILES = 64
MAX_FILE_DEPTH = 8


def code_or_files(code: str | None, info: ValidationInfo) -> str | None:
    """A program's source: `code`, or `files` whose first is the entry point."""
    if code is None and not info.data.get("files"):
        raise ValueError("code is required (or files, whose first is the entry point)")
    return code


class Program(_Model):
    """A problem setter's own program: a checker that judges each test case
    (functions/special_judge.py). Its source as a submission's (`code`, or `files` whose first
    is the entry point; further files such as testlib.h beside it), its language, its limits
    (the executor's defaults when unset; never above its maxima)."""

    language: str = Field(min_length=1)
    files: list[SourceFile] | None = Field(default=None, min_length=1, max_length=MAX_FILES)
    code: str | None = Field(default=None, min_length=1, validate_default=True)
    limits: Limits = Limits()

    @field_validator("code")
    @classmethod
    def _code_or_files(cls, code: str | None, info: ValidationInfo) -> str | None:
        return code_or_files(code, info)


class InteractorProgram(Program):
    """An interactive problem's interactor (functions/interactive.py): a Program that talks to
    the submission through their standard streams; `transcript` keeps the exchange (bounded)
    in each test case's result."""

    transcript: bool = False


class SubmissionRequest(_Model):
    """What a client submits (the public API's body): what to run, on what, judged how.

    `code` is the entry point's source. `files` are further files beside it; without `code`,
    the first of `files` is the entry point.
    """

    files: list[SourceFile] | None = Field(default=None, min_length=1, max_length=MAX_FILES)
    code: str | None = Field(default=None, min_length=1, validate_default=True)
    language: str = Field(min_length=1)
    input: str = ""
    test_cases: list[TestCase] | None = Field(default=None, min_length=1)
    limits: Limits = Limits()
    compare: Compare = "trimmed"
    # Tolerances of the `floats` checker (a number passes within either).
    absolute_tolerance: float | None = Field(default=None, ge=0)
    relative_tolerance: float | None = Field(default=None, ge=0)
    stop_on_first_failure: bool = False
    callback_url: str | None = None
    # command-line arguments of the program
    args: list[str] = Field(default_factory=list, max_length=MAX_ARGS)
    compiler_options: str | None = None  # checked against the language's allowed options
    redirect_stderr_to_stdout: bool = False
    number_of_runs: int = Field(default=1, ge=1, le=20)  # Judge0's: times and memory averaged
    # A checker program decides each test case instead of `compare` (testlib's conventions).
    checker: Program | None = None
    # An interactive problem: the interactor talks to the submission, and decides.
    interactor: InteractorProgram | None = None

    @model_validator(mode="after")
    def _one_judge(self) -> SubmissionRequest:
        if self.checker is not None and self.interactor is not None:
            raise ValueError("a submission has a checker or an interactor, not both")
        if self.interactor is not None and self.number_of_runs != 1:
            raise ValueError("numberOfRuns must be 1 for an interactive problem")
        return self

    @field_validator("code")
    @classmethod
    def _code_or_files(cls, code: str | None, info: ValidationInfo) -> str | None:
        return code_or_files(code, info)

    @field_validator("args")
    @classmethod
    def _args_fit_a_command_line(cls, args: list[str]) -> list[str]:
        for arg in args:
            if len(arg) > MAX_ARG_CHARS:
                raise ValueError(f"an argument is at most {MAX_ARG_CHARS} characters")
            if "\0" in arg:
                raise ValueError("an argument cannot hold a NUL character")
        if sum(len(arg) for arg in args) > MAX_ARGS_TOTAL_CHARS:
            raise ValueError(f"the arguments are at most {MAX_ARGS_TOTAL_CHARS} characters")
        return args

    @field_validator("files")
    @classmethod
    def _files_fit_one_tree(cls, files: list[SourceFile] | None) -> list[SourceFile] | None:
        """No two files of one name, and no file where another needs a directory."""
        names = [f.name for f in files or []]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"two files are named {name}")
            seen.add(name)
        for name in names:
            parts = name.split("/")
            for depth in range(1, len(parts)):
                if "/".join(parts[:depth]) in seen:
                    raise ValueError(f"{'/'.join(parts[:depth])} is a file and a directory")
        return files


@dataclass(frozen=True)
class ExecutorLimits:
    """The executor's documented default and maximum limits, written once: the executor's
    settings default to these (functions/settings.py, each overridable by its SENTINEL_DEFAULT_*,
    SENTINEL_MAX_* or SENTINEL_COMPILE_* variable), and the ingress assumes them for a language
    until its executor has reported its own (ingress/catalog.py) and for a job's duration."""

    default_cpu_ms: int = 2000
    default_wall_ms: int = 5000
    default_memory_mb: int = 256
    default_output_kb: int = 64
    default_processes: int = 64
    default_file_size_kb: int = 65_536
    default_stack_kb: int = 65_536
    max_cpu_ms: int = 15_000
    max_wall_ms: int = 30_000
    max_memory_mb: int = 1024
    max_output_kb: int = 1024
    max_processes: int = 256
    max_file_size_kb: int = 262_144
    max_stack_kb: int = 1_048_576
    compile_cpu_ms: int = 10_000
    compile_wall_ms: int = 20_000
    compile_memory_mb: int = 1024


EXECUTOR_LIMITS = ExecutorLimits()


RUN_OVERHEAD_MS = 500  # per run, beyond its wall limit: sandbox start, grading, replies


def worst_case_ms(request: SubmissionRequest, limits: ExecutorLimits = EXECUTOR_LIMITS) -> int:
    """The longest a job can take on an executor: a compile, then every run of every case at
    its wall limit. The dispatcher waits that long for an executor (eventing/dispatcher.py), so
    a long job is not delivered again while it still runs; the ingress refuses a job whose
    worst case is over its maximum."""
    asked = request.limits
    wall = min(asked.wall_time_ms or limits.default_wall_ms, limits.max_wall_ms)
    compile_ms = min(asked.compile_wall_time_ms or limits.compile_wall_ms, limits.compile_wall_ms)
    runs = len(request.test_cases or [None]) * request.number_of_runs
    return compile_ms + runs * (wall + RUN_OVERHEAD_MS)


class Submission(SubmissionRequest):
    """The data of `execution.requested`: the request, with its job id, as executors see it."""

    id: str
    schema_version: str = SCHEMA_VERSION


class TestResult(_Model):
    """What one test case (or the single input) did."""

    __test__ = False

    input: str
    expected: str | None = None
    actual_output: str
    error: str = ""
    passed: bool | None = None
    verdict: Verdict
    execution_time: int  # CPU milliseconds
    wall_time: int  # milliseconds
    memory_kb: int
    exit_code: int | None = None
    signal: str | None = None
    name: str | None = None
    points: float | None = None  # earned: the case's points when passed, else 0
    # With a checker program: its run (times, memory, exit code, its own verdict) and its
    # message (its report's text).
    checker: StageResult | None = None
    message: str | None = None
    # With an interactor: its run, and the exchange when asked for ("> " the submission's
    # lines, "< " the interactor's).
    interactor: StageResult | None = None
    transcript: str | None = None
    limit_exceeded: LimitName | None = None


class StageResult(_Model):
    """The compile step as it ran (Piston reports it as a stage of its own)."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    signal: str | None = None
    execution_time: int = 0
    wall_time: int = 0
    memory_kb: int = 0
    verdict: Verdict = "accepted"
    # True when the compile cache answered: the compiler did not run, and the times and memory
    # are those of the compile that filled the cache.
    cached: bool | None = None


TestResult.model_rebuild()  # its `checker` is a StageResult, defined after it


class ExecutionResult(_Model):
    """The data of `execution.completed`: the whole outcome of one submission."""

    id: str
    language: str
    verdict: Verdict
    output: str = ""
    error: str = ""
    compile_output: str = ""
    execution_time: int = 0
    wall_time: int = 0
    memory_kb: int = 0
    exit_code: int | None = None
    signal: str | None = None
    test_cases: list[TestResult] | None = None
    compile: StageResult | None = None
    score: float | None = None  # sum of earned points, when any test case has points
    max_score: float | None = None
    executor: str = ""
    # True when texts were cut to keep the result within the stored maximum (bounded()).
    truncated: bool | None = None
    schema_version: str = SCHEMA_VERSION
    limit_exceeded: LimitName | None = None  # the decisive run's (TestResult)


# A result's texts (outputs, errors, and the inputs and expectations echoed back) are cut so that
# the whole result stays within this many bytes of JSON: 20 test cases printing 1 MB each made a
# 42 MB job record. Set on the executor (SENTINEL_MAX_RESULT_BYTES) and the sink.
MAX_RESULT_BYTES = 2 * 1024 * 1024
_MARK = "\n[truncated]"


def bounded(result: ExecutionResult, max_bytes: int = MAX_RESULT_BYTES) -> ExecutionResult:
    """`result` itself when its JSON fits in `max_bytes`, else a copy whose longest texts are
    cut to one common length (the shortest texts stay whole), each ending in "[truncated]",
    with `truncated: true`."""
    size = len(json.dumps(result.wire()).encode())
    if size <= max_bytes:
        return result
    owners: dict[Any, _Model] = {"result": result}
    if result.compile is not None:
        owners["compile"] = result.compile
    owners.update(enumerate(result.test_cases or []))
    fields = {"result": _RESULT_TEXTS, "compile": _STAGE_TEXTS}
    texts = [(key, name) for key in owners for name in fields.get(key, _CASE_TEXTS)]
    values = [str(getattr(owners[key], name) or "") for key, name in texts]
    lengths = [len(value.encode()) for value in values]
    budget = max(0, sum(lengths) - (size - max_bytes) - len(texts) * 2 * len(_MARK))
    cap = _common_cap(lengths, budget)
    updates: dict[Any, dict[str, str]] = {}
    for (key, name), value, length in zip(texts, values, lengths, strict=True):
        if length > cap:
            cut = value.encode()[:cap].decode("utf-8", "ignore") + _MARK
            updates.setdefault(key, {})[name] = cut
    whole: dict[str, Any] = dict(updates.get("result", {}), truncated=True)
    if "compile" in updates and result.compile is not None:
        whole["compile"] = result.compile.model_copy(update=updates["compile"])
    if result.test_cases is not None:
        whole["test_cases"] = [
            case.model_copy(update=updates.get(index, {}))
            for index, case in enumerate(result.test_cases)
        ]
    return result.model_copy(update=whole)


_RESULT_TEXTS = ("output", "error", "compile_output")
_STAGE_TEXTS = ("stdout", "stderr")
_CASE_TEXTS = ("actual_output", "error", "input", "expected")


def _common_cap(lengths: list[int], budget: int) -> int:
    """The largest cap c with sum(min(length, c)) <= budget (water filling)."""
    remaining = budget
    ordered = sorted(lengths)
    for index, length in enumerate(ordered):
        share = remaining // (len(ordered) - index)
        if length > share:
            return share
        remaining -= length
    return ordered[-1] if ordered else 0


class Started(_Model):
    """The data of `execution.started`."""

    id: str
    executor: str
    started_at: str


class Failed(_Model):
    """The data of `execution.failed`: the service, not the code, could not run the job."""

    id: str
    reason: str


PAYLOADS: dict[str, type[_Model]] = {
    REQUESTED: Submission,
    STARTED: Started,
    COMPLETED: ExecutionResult,
    FAILED: Failed,
}


def now_iso() -> str:
    """UTC now as ISO 8601 with milliseconds and a Z, the timestamp format of the API."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_event(
    event_type: str,
    payload: _Model,
    *,
    source: str,
    language: str | None = None,
    callback: bool = False,
    extensions: Mapping[str, str] | None = None,
) -> BaseCloudEvent:
    """Build a CloudEvent for `payload`; subject is the job id, `language` an extension, and
    `callback` marks a result that must go to the job's callbackUrl. `extensions` are further
    extension attributes (the ingress's `requestid`), set here rather than on a copy of the
    event: a second CloudEvent, validated again, cost as much as a third of this one."""
    if not isinstance(payload, PAYLOADS[event_type]):
        raise TypeError(f"{event_type} carries {PAYLOADS[event_type].__name__}")
    job_id = payload.id  # type: ignore[attr-defined]
    attributes: dict[str, Any] = {
        "type": event_type,
        "source": source,
        "subject": job_id,
        "datacontenttype": "application/json",
    }
    if language:
        attributes[LANGUAGE_EXTENSION] = language
    if callback:
        attributes[CALLBACK_EXTENSION] = "true"
    if extensions:
        # After what the SDK would add (specversion, id, time), where the copy with them added
        # put them: the structured JSON keeps its order, byte for byte.
        attributes["specversion"] = SPECVERSION_V1_0
        attributes["id"] = str(uuid.uuid4())
        attributes["time"] = datetime.now(UTC)
        attributes.update(extensions)
    return CloudEvent(attributes=attributes, data=payload.wire())


def payload_of(event: BaseCloudEvent) -> _Model:
    """Validate and return the typed payload of a contract event."""
    model = PAYLOADS.get(event.get_type())
    if model is None:
        raise ContractError(f"unknown event type {event.get_type()!r}")
    data = event.get_data()
    if not isinstance(data, dict):
        raise ContractError("event data must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ContractError(f"invalid {event.get_type()} data: {exc}") from exc


def to_binary(event: BaseCloudEvent) -> tuple[dict[str, str], bytes]:
    """HTTP binary content mode: attributes as ce-* headers, data as the body."""
    message = ce_http.to_binary(event, _FORMAT)
    return dict(message.headers), message.body


def to_structured(event: BaseCloudEvent) -> bytes:
    """The event as one JSON document (how entries are kept in Redis streams)."""
    return _FORMAT.write(event)


def from_structured(body: bytes) -> BaseCloudEvent:
    """Parse a structured JSON event (a Redis stream entry)."""
    return _parse(lambda: _FORMAT.read(None, body))


def from_http(headers: Mapping[str, str], body: bytes) -> BaseCloudEvent:
    """Parse an HTTP request or response in binary or structured mode, holding it to
    CloudEvents 1.0 first (check_http): the SDK takes events without `specversion` or `id`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    check_http(lowered, body)
    message = ce_http.HTTPMessage(headers=lowered, body=body)
    return _parse(lambda: ce_http.from_http(message, _FORMAT))


REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")
# An attribute travels as an HTTP header in binary mode (the dispatcher delivers so): bounded,
# so that no event accepted here is refused by a subscriber's header limits later.
MAX_ATTRIBUTE_CHARS = 2048
MAX_ATTRIBUTES = 32
_ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_STRUCTURED = "application/cloudevents+json"


def check_http(lowered: Mapping[str, str], body: bytes) -> None:
    """CloudEvents 1.0's rules for an HTTP message (headers lower-cased), as ContractError:
    the required attributes present, non-empty strings and specversion "1.0"; attribute names
    of [a-z0-9]{1,20}; values strings, booleans or integers of bounded length; a structured
    event a JSON object; a JSON body strict JSON (eventing/strictjson.py); no batch mode."""
    content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/cloudevents-batch+json":
        raise ContractError("batch content mode is not accepted: send one event per request")
    if content_type == _STRUCTURED:
        document = _strict(body)
        if not isinstance(document, dict):
            raise ContractError("a structured CloudEvent must be a JSON object")
        attributes = {k: v for k, v in document.items() if k not in ("data", "data_base64")}
    else:
        attributes = {k[3:]: v for k, v in lowered.items() if k.startswith("ce-")}
        if body and ("json" in content_type or not content_type):
            _strict(body)
    problem = _attribute_problem(attributes)
    if problem:
        raise ContractError(f"not a valid CloudEvent: {problem}")


def _strict(body: bytes) -> Any:
    try:
        return strictjson.loads(body)
    except strictjson.JSONRefused as exc:
        raise ContractError(f"not a valid CloudEvent: {exc}") from None


def _attribute_problem(attributes: Mapping[str, Any]) -> str | None:
    for name in REQUIRED_ATTRIBUTES:
        value = attributes.get(name)
        if not isinstance(value, str) or not value:
            return f"{name}: a required CloudEvents attribute (a non-empty string)"
    if attributes["specversion"] != "1.0":
        return f"specversion: only 1.0 is accepted, not {attributes['specversion']!r}"
    if len(attributes) > MAX_ATTRIBUTES:
        return f"at most {MAX_ATTRIBUTES} attributes are accepted"
    for name, value in attributes.items():
        if not _ATTRIBUTE_NAME.match(name):
            return f"{name[:40]!r}: attribute names are 1-20 of a-z and 0-9"
        if value is None or isinstance(value, bool | int):
            continue
        if not isinstance(value, str):
            return f"{name}: an attribute value is a string, boolean or integer"
        if len(value) > MAX_ATTRIBUTE_CHARS:
            return f"{name}: at most {MAX_ATTRIBUTE_CHARS} characters allowed"
    return None


def is_cloudevent(headers: Mapping[str, str]) -> bool:
    """True when an HTTP message carries an event (a ce-type header or a structured body)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "")
    return "ce-type" in lowered or content_type.startswith("application/cloudevents+json")


def _parse(read: Any) -> BaseCloudEvent:
    try:
        event: BaseCloudEvent = read()
    except (BaseCloudEventException, ValueError, KeyError, TypeError) as exc:
        raise ContractError(f"not a valid CloudEvent: {exc}") from exc
    return event
