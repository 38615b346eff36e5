"""A Judge0 1.13.1 submission body as a pydantic model, checked as Judge0 words its checks.

Judge0 (a Rails app) answers a submission that does not validate with 422 {field: [messages]}
in ActiveRecord's words: "can't be blank", "is not a number", "must be greater than 0", "must
be less than or equal to 15", "is not a boolean", ... Each field's `before` validator takes
what a Judge0 client sends (numbers as strings, booleans as "true"), raises those exact words
(a PydanticCustomError, so pydantic adds nothing to them) and hands pydantic a value of the
declared type; `by_field` turns the failures into Judge0's 422 body. What a check depends on
(base64 in use, the maxima, the languages offered, the zip bounds) comes in the validation
context, a Judge0Context.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo
from pydantic import field_validator as check
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from eventing import contract
from ingress.judge0 import encoding

# The numeric limits, each checked against its `max_<name>` of /config_info.
NUMBERS = (
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "max_file_size",
    "number_of_runs",
)
# Options a Judge0 client may send but Sentinel cannot honour: true is refused.
REFUSED_OPTIONS = (
    "enable_network",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
)


@dataclass
class Judge0Context:
    """What the checks need to know: whether texts are base64, each number's maximum
    (/config_info's max_* values), the Judge0 ids offered (-> Sentinel ids), and the bounds of
    the additional_files zip. `files` receives the zip's files once unpacked (unpacked once)."""

    base64_encoded: bool
    maxima: dict[str, float]
    languages: dict[int, str]
    max_extract_bytes: int
    max_extract_files: int
    files: list[contract.SourceFile] = field(default_factory=list)


def _refuse(message: str) -> PydanticCustomError:
    """A failure whose message is exactly `message` (Judge0's words)."""
    return PydanticCustomError("judge0", "{message}", {"message": message})


def _context(info: ValidationInfo) -> Judge0Context:
    context = info.context
    if not isinstance(context, Judge0Context):
        raise TypeError("validate with context=Judge0Context(...)")
    return context


class Judge0SubmissionRequest(BaseModel):
    """POST /judge0/submissions (and each item of /submissions/batch): Judge0 1.13.1's request
    fields, in the order Judge0 checks them. Unknown fields are ignored, as Judge0 does."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    source_code: str = Field(default=None, validate_default=True)
    stdin: str | None = None
    expected_output: str | None = None
    language_id: int = Field(default=None, validate_default=True)
    cpu_time_limit: float | None = Field(default=None, description="seconds")
    cpu_extra_time: float | None = Field(default=None, description="seconds")
    wall_time_limit: float | None = Field(default=None, description="seconds")
    memory_limit: float | None = Field(default=None, description="KB")
    stack_limit: float | None = Field(default=None, description="KB")
    max_processes_and_or_threads: float | None = None
    max_file_size: float | None = Field(default=None, description="KB")
    number_of_runs: float | None = None
    redirect_stderr_to_stdout: bool | None = None
    enable_network: bool | None = None
    enable_per_process_and_thread_time_limit: bool | None = None
    enable_per_process_and_thread_memory_limit: bool | None = None
    command_line_arguments: str | None = Field(default=None, description="split as a shell would")
    compiler_options: str | None = None
    callback_url: str | None = None
    additional_files: str | None = Field(default=None, description="a base64 zip")
    # Sentinel's own judges, which Judge0 has not: refused by name rather than ignored, so a
    # client does not believe its checker ran (docs/api.md). Not in the OpenAPI document.
    checker: SkipJsonSchema[Any] = None
    interactor: SkipJsonSchema[Any] = None

    @check("checker", "interactor", mode="before")
    @classmethod
    def _not_judge0(cls, value: Any) -> None:
        if value is not None:
            raise _refuse("is not part of the Judge0 API: use Sentinel's /api/execute")
        return None

    @check("source_code", "stdin", "expected_output", mode="before")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> str | None:
        text: str | None = None
        if value is not None:
            if not isinstance(value, str):
                raise _refuse("must be a string")
            try:
                text = encoding.decode_text(value) if _context(info).base64_encoded else value
            except encoding.EncodingProblem as exc:
                raise _refuse(str(exc)) from None
        if info.field_name == "source_code" and not text:
            raise _refuse("can't be blank")
        return text

    @check("language_id", mode="before")
    @classmethod
    def _language(cls, value: Any, info: ValidationInfo) -> int:
        if value is None or value == "":
            raise _refuse("can't be blank")
        try:
            language_id = int(value)
        except (TypeError, ValueError, OverflowError):
            raise _refuse("is not a number") from None
        if language_id not in _context(info).languages:
            raise _refuse(f"language with id {language_id} doesn't exist")
        return language_id

    @check(*NUMBERS, mode="before")
    @classmethod
    def _number(cls, value: Any, info: ValidationInfo) -> float | None:
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise _refuse("is not a number")
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise _refuse("is not a number") from None
        maximum = _context(info).maxima[str(info.field_name)]
        if not math.isfinite(number) or number <= 0:
            raise _refuse("must be greater than 0")
        if number > maximum:
            raise _refuse(f"must be less than or equal to {maximum:g}")
        return number

    @check("redirect_stderr_to_stdout", *REFUSED_OPTIONS, mode="before")
    @classmethod
    def _flag(cls, value: Any, info: ValidationInfo) -> bool | None:
        if value is None:
            return None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise _refuse("is not a boolean")
        if value and info.field_name in REFUSED_OPTIONS:
            raise _refuse("this option cannot be enabled")
        return value

    @check("command_line_arguments", mode="before")
    @classmethod
    def _arguments(cls, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise _refuse("must be a string")
        try:
            shlex.split(value)
        except ValueError as exc:
            raise _refuse(f"is not valid: {exc}") from None
        return value

    @check("compiler_options", "callback_url", mode="before")
    @classmethod
    def _string(cls, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise _refuse("must be a string")
        return value

    @check("additional_files", mode="before")
    @classmethod
    def _archive(cls, value: Any, info: ValidationInfo) -> str | None:
        if not value:
            return None
        if not isinstance(value, str):
            raise _refuse("must be a base64 string")
        context = _context(info)
        try:
            context.files = encoding.unzip(
                value, context.max_extract_bytes, context.max_extract_files
            )
        except encoding.EncodingProblem as exc:
            raise _refuse(str(exc)) from None
        return value

    def args(self) -> list[str]:
        """command_line_arguments as the program's argv (after its name)."""
        return shlex.split(self.command_line_arguments or "")


def by_field(exc: ValidationError) -> dict[str, list[str]]:
    """Judge0's 422 body: {field: [message]}, in the order the fields were checked."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "base"
        errors.setdefault(name, []).append(error["msg"])
    return errors
