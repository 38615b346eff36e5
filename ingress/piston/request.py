"""A Piston v2 execute body as a pydantic model, checked as Piston words its refusals.

Piston answers a bad request with 400 {"message": "<what is wrong>"}, one problem at a time.
Each field's `before` validator takes what a Piston client sends, raises that sentence (a
PydanticCustomError, so pydantic adds nothing to it) and hands pydantic a value of the
declared type; `first_refusal` is the first sentence, in the order Piston's fields are checked.
The limits' maxima are the executor's for the runtime asked for, so they come in the validation
context, a PistonContext (the runtime is looked up first, from `language` and `version`).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo
from pydantic import field_validator as check
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

# The limits, in the order they are checked, each with the factor that turns it into the unit of
# Sentinel's limits: wall and CPU ms stay ms, memory bytes become MB.
LIMITS: dict[str, float] = {
    "run_timeout": 1,
    "run_cpu_time": 1,
    "run_memory_limit": 1 / 1024 / 1024,
    "compile_timeout": 1,
    "compile_cpu_time": 1,
    "compile_memory_limit": 1 / 1024 / 1024,
}


@dataclass(frozen=True)
class PistonContext:
    """Each limit's maximum, in Sentinel's unit (ms, MB), for the runtime asked for."""

    maxima: dict[str, int]


def _refuse(message: str) -> PydanticCustomError:
    """A failure whose message is exactly `message` (Piston's sentence)."""
    return PydanticCustomError("piston", "{message}", {"message": message})


class PistonFile(BaseModel):
    """A file of an execute request; the first is the entry point (its name is not needed).
    hex content arrives as base64 (the contract's encodings are utf8 and base64)."""

    model_config = ConfigDict(frozen=True)

    name: str | None = None
    content: str
    encoding: Literal["utf8", "base64", "hex"] = "utf8"

    def text(self) -> str:
        """The content as text (the entry point's source)."""
        if self.encoding == "utf8":
            return self.content
        return base64.b64decode(self.content).decode()


def _file(file: Any, index: int) -> PistonFile:
    """One entry of `files`, checked and with hex turned into base64."""
    if not isinstance(file, dict):
        raise _refuse(f"files[{index}] must be an object")
    content = file.get("content")
    if not isinstance(content, str):
        raise _refuse(f"files[{index}].content is required as a string")
    encoding = file.get("encoding", "utf8")
    if encoding not in ("utf8", "base64", "hex"):
        raise _refuse(f"files[{index}].encoding must be one of base64, hex or utf8")
    try:
        if encoding == "base64":
            base64.b64decode(content, validate=True)
        elif encoding == "hex":
            content, encoding = base64.b64encode(bytes.fromhex(content)).decode(), "base64"
    except (binascii.Error, ValueError):
        raise _refuse(f"files[{index}].content is not valid {encoding}") from None
    if index == 0:
        try:
            PistonFile(content=content, encoding=encoding).text()
        except UnicodeDecodeError:
            raise _refuse("files[0] (the entry point) must decode to UTF-8 text") from None
        return PistonFile(content=content, encoding=encoding)
    name = file.get("name") or f"file{index}"
    if not isinstance(name, str):
        raise _refuse(f"files[{index}].name must be a string")
    return PistonFile(name=name, content=content, encoding=encoding)


def _files_required(schema: dict[str, Any]) -> None:
    """`files` has no default (its absence is refused in Piston's words, by its validator)."""
    schema["required"] = [*schema.get("required", []), "files"]
    schema["properties"]["files"].pop("default", None)


class PistonExecuteRequest(BaseModel):
    """POST /api/v2/execute. Limits: *_timeout wall ms, *_cpu_time CPU ms, *_memory_limit bytes;
    -1 (or absent) is the server's default. Unknown fields are ignored, as Piston does."""

    model_config = ConfigDict(extra="ignore", frozen=True, json_schema_extra=_files_required)

    language: str
    version: str = Field(description="an npm range: *, 3.x, ^3.11, 3.11.2, ...")
    files: list[PistonFile] = Field(default=None, min_length=1, validate_default=True)
    stdin: str = ""
    args: list[str] = Field(default_factory=list)
    run_timeout: float | None = None
    run_cpu_time: float | None = None
    run_memory_limit: float | None = None
    compile_timeout: float | None = None
    compile_cpu_time: float | None = None
    compile_memory_limit: float | None = None
    # Sentinel's own judges, which Piston has not: refused by name rather than ignored, so a
    # client does not believe its checker ran (docs/api.md). Not in the OpenAPI document.
    checker: SkipJsonSchema[Any] = None
    interactor: SkipJsonSchema[Any] = None

    @check("checker", "interactor", mode="before")
    @classmethod
    def _not_piston(cls, value: Any, info: ValidationInfo) -> None:
        if value is not None:
            raise _refuse(
                f"{info.field_name} is not part of the Piston API: use Sentinel's /api/execute"
            )
        return None

    @check("language", "version", mode="before")
    @classmethod
    def _name(cls, value: Any, info: ValidationInfo) -> str:
        if not isinstance(value, str):
            raise _refuse(f"{info.field_name} is required as a string")
        return value

    @check("files", mode="before")
    @classmethod
    def _files(cls, value: Any) -> list[PistonFile]:
        if not isinstance(value, list) or not value:
            raise _refuse("files is required as an array")
        return [_file(file, index) for index, file in enumerate(value)]

    @check("stdin", mode="before")
    @classmethod
    def _stdin(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise _refuse("stdin must be a string")
        return value

    @check("args", mode="before")
    @classmethod
    def _args(cls, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise _refuse("args must be an array of strings")
        return value

    @check(*LIMITS, mode="before")
    @classmethod
    def _limit(cls, value: Any, info: ValidationInfo) -> float | None:
        key = str(info.field_name)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise _refuse(f"{key} must be a number")
        if value == -1:
            return None
        if value < 0:
            raise _refuse(f"{key} must be a non-negative number or -1")
        context = info.context
        if not isinstance(context, PistonContext):
            raise TypeError("validate with context=PistonContext(...)")
        maximum, scale = context.maxima[key], LIMITS[key]
        if math.ceil(value * scale) > maximum:
            raise _refuse(f"{key} cannot exceed the configured limit of {int(maximum / scale)}")
        return float(value)

    def limit(self, key: str) -> int | None:
        """A limit in Sentinel's unit (ms, MB), at least 1; None for the default."""
        value: float | None = getattr(self, key)
        return None if value is None else max(1, math.ceil(value * LIMITS[key]))


def first_refusal(exc: ValidationError) -> str:
    """Piston's message: the first problem, in the order the fields are checked."""
    first = exc.errors()[0]
    if first["type"] == "piston":
        return str(first["msg"])
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}"
