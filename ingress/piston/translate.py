"""Piston's execute request in, its response out.

In: the first file is the entry point (Piston runs it); the others are written beside it.
run_timeout/compile_timeout (wall ms), run_cpu_time/compile_cpu_time (CPU ms) and
run_memory_limit/compile_memory_limit (bytes, -1: the default) become Sentinel's limits.
Out: a stage per step, {stdout, stderr, output, code, signal, message, status, cpu_time,
wall_time, memory}; Sentinel keeps stdout and stderr apart, so `output` is stdout followed by
stderr, not their interleaving (docs/migrating.md).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from pydantic import ValidationError

from eventing import contract
from ingress.catalog import SandboxLimits
from ingress.piston.runtimes import COMPILED, Runtime
from ingress.piston.shapes import PistonExecuteResponse, PistonStage


class PistonError(Exception):
    """Piston's error answer: {"message": ...} with a 4xx/5xx."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _limit(body: dict[str, Any], key: str, maximum: int, scale: float = 1) -> int | None:
    """A limit field: a number, at most the configured maximum; -1 (or absent) = default."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PistonError(f"{key} must be a number")
    if value == -1:
        return None
    if value < 0:
        raise PistonError(f"{key} must be a non-negative number or -1")
    scaled = math.ceil(value * scale)
    if scaled > maximum:
        limit = int(maximum / scale)
        raise PistonError(f"{key} cannot exceed the configured limit of {limit}")
    return max(1, scaled)


def _content(file: dict[str, Any], index: int) -> tuple[str, str]:
    """(content, contract encoding) of a file: utf8 as is, base64 as is, hex as base64."""
    content = file.get("content")
    if not isinstance(content, str):
        raise PistonError(f"files[{index}].content is required as a string")
    encoding = file.get("encoding", "utf8")
    if encoding == "utf8":
        return content, "utf8"
    try:
        if encoding == "base64":
            base64.b64decode(content, validate=True)
            return content, "base64"
        if encoding == "hex":
            return base64.b64encode(bytes.fromhex(content)).decode(), "base64"
    except (binascii.Error, ValueError):
        raise PistonError(f"files[{index}].content is not valid {encoding}") from None
    raise PistonError(f"files[{index}].encoding must be one of base64, hex or utf8")


def _entry_text(content: str, encoding: str) -> str:
    if encoding == "utf8":
        return content
    try:
        return base64.b64decode(content).decode()
    except UnicodeDecodeError:
        raise PistonError("files[0] (the entry point) must decode to UTF-8 text") from None


def parse(
    body: dict[str, Any], runtime: Runtime, sandbox: SandboxLimits
) -> contract.SubmissionRequest:
    """A Piston execute body -> the Sentinel request. Raises PistonError (400)."""
    files = body.get("files")
    if not isinstance(files, list) or not files:
        raise PistonError("files is required as an array")
    code = ""
    extra: list[dict[str, str]] = []
    for index, file in enumerate(files):
        if not isinstance(file, dict):
            raise PistonError(f"files[{index}] must be an object")
        content, encoding = _content(file, index)
        if index == 0:
            code = _entry_text(content, encoding)
            continue
        name = file.get("name") or f"file{index}"
        if not isinstance(name, str):
            raise PistonError(f"files[{index}].name must be a string")
        extra.append({"name": name, "content": content, "encoding": encoding})
    stdin = body.get("stdin", "")
    if not isinstance(stdin, str):
        raise PistonError("stdin must be a string")
    args = body.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise PistonError("args must be an array of strings")
    limits = {
        "wallTimeMs": _limit(body, "run_timeout", sandbox.max_wall_ms),
        "cpuTimeMs": _limit(body, "run_cpu_time", sandbox.max_cpu_ms),
        "memoryMb": _limit(body, "run_memory_limit", sandbox.max_memory_mb, 1 / 1024 / 1024),
        "compileWallTimeMs": _limit(body, "compile_timeout", sandbox.compile_wall_ms),
        "compileCpuTimeMs": _limit(body, "compile_cpu_time", sandbox.compile_cpu_ms),
        "compileMemoryMb": _limit(
            body, "compile_memory_limit", sandbox.compile_memory_mb, 1 / 1024 / 1024
        ),
    }
    request: dict[str, Any] = {
        "language": runtime.sentinel,
        "code": code,
        "input": stdin,
        "args": args,
        "limits": {k: v for k, v in limits.items() if v is not None},
    }
    if extra:
        request["files"] = extra
    try:
        return contract.SubmissionRequest.model_validate(request)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PistonError(f"{where}: {first['msg']}") from None


def _stage(
    stdout: str,
    stderr: str,
    code: int | None,
    signal: str | None,
    status: str | None,
    message: str | None,
    cpu_ms: int,
    wall_ms: int,
    memory_kb: int,
) -> PistonStage:
    return PistonStage(
        stdout=stdout,
        stderr=stderr,
        output=stdout + stderr,
        code=None if signal else code,
        signal=signal,
        message=message,
        status=status,
        cpu_time=cpu_ms,
        wall_time=wall_ms,
        memory=memory_kb * 1024,
    )


# Sentinel verdict -> Piston status and message (docs/migrating.md).
_STATUS = {
    "time_limit_exceeded": ("TO", "Time limit exceeded"),
    "output_limit_exceeded": ("OL", "Output limit exceeded"),
    "memory_limit_exceeded": ("SG", "Memory limit exceeded"),
    "internal_error": ("XX", "Internal error"),
}


def _run_status(
    verdict: str, code: int | None, signal: str | None
) -> tuple[str | None, str | None]:
    if verdict in _STATUS:
        return _STATUS[verdict]
    if signal:
        return "SG", f"Killed by signal {signal}"
    if code:
        return "RE", f"Exited with error status {code}"
    return None, None


def render(record: dict[str, Any], runtime: Runtime) -> dict[str, Any]:
    """A finished job as Piston's execute response."""
    return PistonExecuteResponse(
        language=runtime.language, version=runtime.version, **_stages(record, runtime)
    ).wire()


def _stages(record: dict[str, Any], runtime: Runtime) -> dict[str, PistonStage]:
    """The job's stages: `run`, and `compile` for a language with a compile stage."""
    answer: dict[str, PistonStage] = {}
    result = record.get("result")
    if record.get("status") == "failed" or not isinstance(result, dict):
        reason = str(record.get("reason") or "the service could not run this job")
        answer["run"] = _stage("", "", None, None, "XX", reason, 0, 0, 0)
        return answer
    verdict = str(result.get("verdict"))
    compiled = runtime.sentinel in COMPILED
    failed_compile = verdict == "compilation_error"
    stage = result.get("compile") if isinstance(result.get("compile"), dict) else None
    if compiled:
        if stage is not None:
            status, message = _run_status(
                str(stage.get("verdict", "accepted")), stage.get("exitCode"), stage.get("signal")
            )
            answer["compile"] = _stage(
                stage.get("stdout", ""),
                stage.get("stderr", ""),
                stage.get("exitCode"),
                stage.get("signal"),
                status,
                message,
                int(stage.get("executionTime", 0)),
                int(stage.get("wallTime", 0)),
                int(stage.get("memoryKb", 0)),
            )
        else:  # an executor without the compile stage: what its compileOutput says
            output = str(result.get("compileOutput", ""))
            code = 1 if failed_compile else 0
            status, message = (
                ("RE", "Exited with error status 1") if failed_compile else (None, None)
            )
            answer["compile"] = _stage("", output, code, None, status, message, 0, 0, 0)
    if failed_compile and compiled:
        answer["run"] = _stage("", "", None, None, None, "Not run: compilation failed", 0, 0, 0)
        return answer
    if failed_compile:  # a syntax check (Python, JavaScript): Piston shows it as the run
        error = str(result.get("compileOutput", ""))
        answer["run"] = _stage("", error, 1, None, "RE", "Exited with error status 1", 0, 0, 0)
        return answer
    exit_code: int | None = result.get("exitCode")
    signal = result.get("signal")
    status, message = _run_status(verdict, exit_code, signal)
    if verdict == "memory_limit_exceeded" and not signal:
        signal = "SIGKILL"
    answer["run"] = _stage(
        str(result.get("output", "")),
        str(result.get("error", "")),
        exit_code,
        signal,
        status,
        message,
        int(result.get("executionTime", 0)),
        int(result.get("wallTime", 0)),
        int(result.get("memoryKb", 0)),
    )
    return answer
