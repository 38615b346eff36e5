"""Judge0 submissions in and out: a request body becomes a contract.SubmissionRequest (plus the
fields Judge0 echoes back, kept in the job record), and a job record becomes Judge0's response.

Mapping (docs/migrating.md): cpu_time_limit and wall_time_limit (seconds) -> limits in ms;
memory_limit, stack_limit and max_file_size (KB) -> memoryMb (rounded up), stackKb and
fileSizeKb; max_processes_and_or_threads -> processes; command_line_arguments is split as a shell
would (shlex) into args; expected_output makes one test case judged by the `trimmed` checker
(Judge0's own comparison); additional_files (a zip) becomes files beside the source.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from eventing import contract
from ingress.catalog import ReportedLimits
from ingress.judge0 import encoding, statuses
from ingress.judge0.request import (
    NUMBERS,
    Judge0Context,
    Judge0SubmissionRequest,
    by_field,
)
from ingress.judge0.shapes import Judge0Submission
from ingress.settings import IngressSettings

# Every attribute of a 1.13.1 submission, in its serializer's order (`fields=*`): the response
# model's fields (ingress/judge0/shapes.py). The columns 1.13 added for its own bookkeeping
# (started_at, queued_at, updated_at, queue_host, execution_host) are not served: the official
# SDK, written against 1.13.1, refuses them.
ALL_FIELDS: tuple[str, ...] = tuple(Judge0Submission.model_fields)
DEFAULT_FIELDS = (
    "token",
    "time",
    "memory",
    "stdout",
    "stderr",
    "compile_output",
    "message",
    "status",
)
TEXT_FIELDS = ("source_code", "stdin", "expected_output", "stdout", "stderr", "compile_output")
RECORD_FIELD = "judge0"  # the job record's field holding the echoed request


class Invalid(Exception):
    """Judge0's 422: {field: [messages]}."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(json.dumps(errors))
        self.errors = errors


def requested_fields(raw: str | None) -> list[str] | str:
    """The `fields` query parameter: the list to answer, or an error text for Judge0's 400."""
    if raw is None or not raw.strip():
        return list(DEFAULT_FIELDS)
    if raw.strip() == "*":
        return list(ALL_FIELDS)
    wanted = [name.strip() for name in raw.split(",") if name.strip()]
    invalid = [name for name in wanted if name not in ALL_FIELDS]
    if invalid:
        return f"invalid fields: [{', '.join(invalid)}]"
    return wanted


def config_limits(sandbox: ReportedLimits) -> dict[str, Any]:
    """The defaults and maxima /config_info shows and requests are checked against."""
    return {
        "cpu_time_limit": sandbox.default_cpu_ms / 1000,
        "max_cpu_time_limit": sandbox.max_cpu_ms / 1000,
        "wall_time_limit": sandbox.default_wall_ms / 1000,
        "max_wall_time_limit": sandbox.max_wall_ms / 1000,
        "memory_limit": sandbox.default_memory_mb * 1024,
        "max_memory_limit": sandbox.max_memory_mb * 1024,
        "stack_limit": 64000,
        "max_stack_limit": sandbox.max_memory_mb * 1024,
        "max_processes_and_or_threads": sandbox.default_processes,
        "max_max_processes_and_or_threads": sandbox.default_processes * 2,
        "max_file_size": sandbox.max_output_kb,
        "max_max_file_size": sandbox.max_output_kb * 4,
        "number_of_runs": 1,
        "max_number_of_runs": 20,
        "cpu_extra_time": 0.5,
        "max_cpu_extra_time": 5.0,
    }


def parse(
    body: Any,
    base64_encoded: bool,
    settings: IngressSettings,
    sandbox: ReportedLimits,
    languages: dict[int, str],
) -> tuple[contract.SubmissionRequest, dict[str, Any]]:
    """A Judge0 submission body -> (the Sentinel request, the fields Judge0 echoes back).

    `languages` maps the Judge0 ids offered to Sentinel language ids. Raises Invalid (422):
    Judge0's checks are the model's (ingress/judge0/request.py).
    """
    if not isinstance(body, dict):
        raise Invalid({"base": ["the submission must be a JSON object"]})
    limits = config_limits(sandbox)
    context = Judge0Context(
        base64_encoded=base64_encoded,
        maxima={name: limits[f"max_{name}"] for name in NUMBERS},
        languages=languages,
        max_extract_bytes=settings.compat.judge0_max_extract_kb * 1024,
        max_extract_files=settings.compat.judge0_max_extract_files,
    )
    try:
        asked = Judge0SubmissionRequest.model_validate(body, context=context)
    except ValidationError as exc:
        raise Invalid(by_field(exc)) from None
    stdin = asked.stdin or ""
    redirect = bool(asked.redirect_stderr_to_stdout)

    def whole(value: float | None, scale: float = 1) -> int | None:
        return None if value is None else max(1, math.ceil(value * scale))

    request_body: dict[str, Any] = {
        "code": asked.source_code,
        "language": languages[asked.language_id],
        "limits": {
            key: value
            for key, value in {
                "cpuTimeMs": whole(asked.cpu_time_limit, 1000),
                "wallTimeMs": whole(asked.wall_time_limit, 1000),
                "memoryMb": whole(asked.memory_limit, 1 / 1024),
                "stackKb": whole(asked.stack_limit),
                "processes": whole(asked.max_processes_and_or_threads),
                "fileSizeKb": whole(asked.max_file_size),
            }.items()
            if value is not None
        },
        "args": asked.args(),
        "redirectStderrToStdout": redirect,
        "numberOfRuns": whole(asked.number_of_runs) or 1,
    }
    if context.files:
        request_body["files"] = [f.wire() for f in context.files]
    if asked.compiler_options:
        request_body["compilerOptions"] = asked.compiler_options
    if asked.callback_url:
        request_body["callbackUrl"] = asked.callback_url
    if asked.expected_output is not None:
        request_body["testCases"] = [{"input": stdin, "expected": asked.expected_output}]
        request_body["compare"] = "trimmed"
    else:
        request_body["input"] = stdin
    try:
        request = contract.SubmissionRequest.model_validate(request_body)
    except ValidationError as exc:
        raise Invalid({"base": [e["msg"] for e in exc.errors()]}) from None
    echo: dict[str, Any] = {
        "source_code": asked.source_code,
        "language_id": asked.language_id,
        "stdin": stdin,
        "expected_output": asked.expected_output,
        "number_of_runs": request.number_of_runs,
        "cpu_time_limit": _decimal(asked.cpu_time_limit or limits["cpu_time_limit"]),
        "cpu_extra_time": _decimal(asked.cpu_extra_time or limits["cpu_extra_time"]),
        "wall_time_limit": _decimal(asked.wall_time_limit or limits["wall_time_limit"]),
        "memory_limit": int(asked.memory_limit or limits["memory_limit"]),
        "stack_limit": int(asked.stack_limit or limits["stack_limit"]),
        "max_processes_and_or_threads": int(
            asked.max_processes_and_or_threads or limits["max_processes_and_or_threads"]
        ),
        "enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False,
        "max_file_size": int(asked.max_file_size or limits["max_file_size"]),
        "compiler_options": asked.compiler_options,
        "command_line_arguments": asked.command_line_arguments,
        "redirect_stderr_to_stdout": redirect,
        "callback_url": asked.callback_url,
        "additional_files": asked.additional_files,
        "enable_network": False,
    }
    return request, echo


def _decimal(seconds: float) -> str:
    """A Rails decimal as JSON writes it: "2.0", "0.5", "0.012"."""
    text = format(Decimal(str(round(seconds, 6))).normalize(), "f")
    return text if "." in text else text + ".0"


def seconds(ms: int | None) -> str | None:
    """Milliseconds -> Judge0's `time`: a decimal string of seconds."""
    return None if ms is None else _decimal(ms / 1000)


def render(
    record: dict[str, Any], fields: list[str], base64_encoded: bool, language_name: str
) -> dict[str, Any]:
    """A job record as Judge0 1.13.1 answers it, with only `fields`."""
    echo: dict[str, Any] = json.loads(record.get(RECORD_FIELD) or "{}")
    job_status = record.get("status", "queued")
    result = record.get("result") if isinstance(record.get("result"), dict) else None
    finished = job_status in ("completed", "failed")
    values: dict[str, Any] = {name: None for name in ALL_FIELDS}
    values.update({k: v for k, v in echo.items() if k in values})
    values["token"] = record["id"]
    values["created_at"] = record.get("timestamp")
    status_id = statuses.IN_QUEUE if job_status == "queued" else statuses.PROCESSING
    if job_status == "failed":
        status_id = statuses.INTERNAL_ERROR
        values["message"] = record.get("reason") or "the service could not run this job"
        values["finished_at"] = record.get("updatedAt")
    elif finished and result is not None:
        values.update(_outcome(result))
        status_id = values.pop("status_id")
        values["finished_at"] = record.get("updatedAt")
    values["status_id"] = status_id
    values["status"] = statuses.status(status_id)
    values["language"] = {"id": values["language_id"], "name": language_name}
    for name in TEXT_FIELDS:
        if values[name] == "":
            values[name] = None
    if values["message"] == "":
        values["message"] = None
    if base64_encoded:
        for name in (*TEXT_FIELDS, "message"):
            if values[name] is not None:
                values[name] = encoding.encode64(values[name])
    shown = Judge0Submission.model_validate(values).wire()
    return {name: shown[name] for name in fields}


def _outcome(result: dict[str, Any]) -> dict[str, Any]:
    """The run's fields from a Sentinel result (the one test case when expected_output was
    given, else the single run)."""
    run = (result.get("testCases") or [None])[0] or {}
    stdout = run.get("actualOutput", result.get("output", ""))
    stderr = run.get("error", result.get("error", ""))
    verdict = str(result.get("verdict", "internal_error"))
    exit_code = run.get("exitCode", result.get("exitCode"))
    signal = run.get("signal", result.get("signal"))
    status_id = statuses.status_of(verdict, signal)
    compile_output = result.get("compileOutput", "")
    compiled = result.get("compile")
    if not compile_output and isinstance(compiled, dict) and verdict == "compilation_error":
        compile_output = (compiled.get("stdout") or "") + (compiled.get("stderr") or "")
    ran = verdict != "compilation_error"
    message = statuses.message_of(status_id, verdict, exit_code, signal)
    if verdict == "internal_error":
        message = stderr or "internal error"
        stderr = ""
    return {
        "status_id": status_id,
        "stdout": stdout,
        "stderr": stderr,
        "compile_output": compile_output,
        "message": message,
        "time": seconds(run.get("executionTime", result.get("executionTime"))) if ran else None,
        "wall_time": seconds(run.get("wallTime", result.get("wallTime"))) if ran else None,
        "memory": run.get("memoryKb", result.get("memoryKb")) if ran else None,
        "exit_code": exit_code if ran else None,
        "exit_signal": statuses.signal_number(signal) if ran else None,
    }
