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
import shlex
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from eventing import contract
from ingress.catalog import SandboxLimits
from ingress.judge0 import encoding, statuses
from ingress.settings import IngressSettings

# Every attribute of a 1.13.1 submission, in its serializer's order (`fields=*`). The columns
# 1.13 added for its own bookkeeping (started_at, queued_at, updated_at, queue_host,
# execution_host) are not served: the official SDK, written against 1.13.1, refuses them.
ALL_FIELDS: tuple[str, ...] = (
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "status",
    "language",
)
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
REQUEST_FIELDS = frozenset(
    {
        "source_code",
        "language_id",
        "compiler_options",
        "command_line_arguments",
        "number_of_runs",
        "stdin",
        "expected_output",
        "cpu_time_limit",
        "cpu_extra_time",
        "wall_time_limit",
        "memory_limit",
        "stack_limit",
        "max_processes_and_or_threads",
        "enable_per_process_and_thread_time_limit",
        "enable_per_process_and_thread_memory_limit",
        "max_file_size",
        "redirect_stderr_to_stdout",
        "callback_url",
        "additional_files",
        "enable_network",
    }
)
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


def _number(
    body: dict[str, Any], name: str, maximum: float, errors: dict[str, list[str]]
) -> float | None:
    """A numeric limit, checked as Judge0's validations word it."""
    value = body.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors[name] = ["is not a number"]
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors[name] = ["is not a number"]
        return None
    if not math.isfinite(number) or number <= 0:
        errors[name] = ["must be greater than 0"]
    elif number > maximum:
        errors[name] = [f"must be less than or equal to {maximum:g}"]
    return number


def _flag(body: dict[str, Any], name: str, errors: dict[str, list[str]]) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    errors[name] = ["is not a boolean"]
    return None


def _text(
    body: dict[str, Any], name: str, base64_encoded: bool, errors: dict[str, list[str]]
) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[name] = ["must be a string"]
        return None
    if not base64_encoded:
        return value
    try:
        return encoding.decode_text(value)
    except encoding.EncodingProblem as exc:
        errors[name] = [str(exc)]
        return None


def config_limits(sandbox: SandboxLimits) -> dict[str, Any]:
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
    sandbox: SandboxLimits,
    languages: dict[int, str],
) -> tuple[contract.SubmissionRequest, dict[str, Any]]:
    """A Judge0 submission body -> (the Sentinel request, the fields Judge0 echoes back).

    `languages` maps the Judge0 ids offered to Sentinel language ids. Raises Invalid (422).
    """
    if not isinstance(body, dict):
        raise Invalid({"base": ["the submission must be a JSON object"]})
    errors: dict[str, list[str]] = {}
    limits = config_limits(sandbox)
    source = _text(body, "source_code", base64_encoded, errors)
    if not source and "source_code" not in errors:
        errors["source_code"] = ["can't be blank"]
    stdin = _text(body, "stdin", base64_encoded, errors)
    expected = _text(body, "expected_output", base64_encoded, errors)
    language_id: int | None = None
    raw_language = body.get("language_id")
    if raw_language is None or raw_language == "":
        errors["language_id"] = ["can't be blank"]
    else:
        try:
            language_id = int(raw_language)
        except (TypeError, ValueError):
            errors["language_id"] = ["is not a number"]
        else:
            if language_id not in languages:
                errors["language_id"] = [f"language with id {language_id} doesn't exist"]
    numbers = {
        name: _number(body, name, limits[f"max_{name}"], errors)
        for name in (
            "cpu_time_limit",
            "cpu_extra_time",
            "wall_time_limit",
            "memory_limit",
            "stack_limit",
            "max_processes_and_or_threads",
            "max_file_size",
            "number_of_runs",
        )
    }
    flags = {
        name: _flag(body, name, errors)
        for name in (
            "redirect_stderr_to_stdout",
            "enable_network",
            "enable_per_process_and_thread_time_limit",
            "enable_per_process_and_thread_memory_limit",
        )
    }
    for name in (
        "enable_network",
        "enable_per_process_and_thread_time_limit",
        "enable_per_process_and_thread_memory_limit",
    ):
        if flags[name]:
            errors[name] = ["this option cannot be enabled"]
    args: list[str] = []
    arguments = body.get("command_line_arguments")
    if arguments is not None:
        if not isinstance(arguments, str):
            errors["command_line_arguments"] = ["must be a string"]
        else:
            try:
                args = shlex.split(arguments)
            except ValueError as exc:
                errors["command_line_arguments"] = [f"is not valid: {exc}"]
    options = body.get("compiler_options")
    if options is not None and not isinstance(options, str):
        errors["compiler_options"] = ["must be a string"]
    callback = body.get("callback_url")
    if callback is not None and not isinstance(callback, str):
        errors["callback_url"] = ["must be a string"]
    files: list[contract.SourceFile] = []
    archive = body.get("additional_files")
    if archive:
        if not isinstance(archive, str):
            errors["additional_files"] = ["must be a base64 string"]
        else:
            try:
                files = encoding.unzip(
                    archive,
                    settings.compat.judge0_max_extract_kb * 1024,
                    settings.compat.judge0_max_extract_files,
                )
            except encoding.EncodingProblem as exc:
                errors["additional_files"] = [str(exc)]
    if errors:
        raise Invalid(errors)
    assert language_id is not None and source is not None
    stdin = stdin or ""

    def whole(value: float | None, scale: float = 1) -> int | None:
        return None if value is None else max(1, math.ceil(value * scale))

    request_body: dict[str, Any] = {
        "code": source,
        "language": languages[language_id],
        "limits": {
            key: value
            for key, value in {
                "cpuTimeMs": whole(numbers["cpu_time_limit"], 1000),
                "wallTimeMs": whole(numbers["wall_time_limit"], 1000),
                "memoryMb": whole(numbers["memory_limit"], 1 / 1024),
                "stackKb": whole(numbers["stack_limit"]),
                "processes": whole(numbers["max_processes_and_or_threads"]),
                "fileSizeKb": whole(numbers["max_file_size"]),
            }.items()
            if value is not None
        },
        "args": args,
        "redirectStderrToStdout": bool(flags["redirect_stderr_to_stdout"]),
        "numberOfRuns": whole(numbers["number_of_runs"]) or 1,
    }
    if files:
        request_body["files"] = [f.wire() for f in files]
    if options:
        request_body["compilerOptions"] = options
    if callback:
        request_body["callbackUrl"] = callback
    if expected is not None:
        request_body["testCases"] = [{"input": stdin, "expected": expected}]
        request_body["compare"] = "trimmed"
    else:
        request_body["input"] = stdin
    try:
        request = contract.SubmissionRequest.model_validate(request_body)
    except ValidationError as exc:
        raise Invalid({"base": [e["msg"] for e in exc.errors()]}) from None
    echo: dict[str, Any] = {
        "source_code": source,
        "language_id": language_id,
        "stdin": stdin,
        "expected_output": expected,
        "number_of_runs": request.number_of_runs,
        "cpu_time_limit": _decimal(numbers["cpu_time_limit"] or limits["cpu_time_limit"]),
        "cpu_extra_time": _decimal(numbers["cpu_extra_time"] or limits["cpu_extra_time"]),
        "wall_time_limit": _decimal(numbers["wall_time_limit"] or limits["wall_time_limit"]),
        "memory_limit": int(numbers["memory_limit"] or limits["memory_limit"]),
        "stack_limit": int(numbers["stack_limit"] or limits["stack_limit"]),
        "max_processes_and_or_threads": int(
            numbers["max_processes_and_or_threads"] or limits["max_processes_and_or_threads"]
        ),
        "enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False,
        "max_file_size": int(numbers["max_file_size"] or limits["max_file_size"]),
        "compiler_options": options,
        "command_line_arguments": arguments,
        "redirect_stderr_to_stdout": bool(flags["redirect_stderr_to_stdout"]),
        "callback_url": callback,
        "additional_files": archive or None,
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
    return {name: values[name] for name in fields}


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
