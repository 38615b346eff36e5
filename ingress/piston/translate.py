"""Piston's execute request in, its response out.

In: the first file is the entry point (Piston runs it); the others are written beside it.
run_timeout/compile_timeout (wall ms), run_cpu_time/compile_cpu_time (CPU ms) and
run_memory_limit/compile_memory_limit (bytes, -1: the default) become Sentinel's limits.
Out: a stage per step, {stdout, stderr, output, code, signal, message, status, cpu_time,
wall_time, memory}; Sentinel keeps stdout and stderr apart, so `output` is stdout followed by
stderr, not their interleaving (docs/migrating.md).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from eventing import contract
from ingress.catalog import ReportedLimits
from ingress.piston.request import PistonContext, PistonExecuteRequest, first_refusal
from ingress.piston.runtimes import COMPILED, Runtime
from ingress.piston.shapes import PistonExecuteResponse, PistonStage


class PistonError(Exception):
    """Piston's error answer: {"message": ...} with a 4xx/5xx."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def parse(
    body: dict[str, Any], runtime: Runtime, sandbox: ReportedLimits
) -> contract.SubmissionRequest:
    """A Piston execute body -> the Sentinel request. Raises PistonError (400): Piston's checks
    are the model's (ingress/piston/request.py), against `sandbox`'s maxima."""
    maxima = {
        "run_timeout": sandbox.max_wall_ms,
        "run_cpu_time": sandbox.max_cpu_ms,
        "run_memory_limit": sandbox.max_memory_mb,
        "compile_timeout": sandbox.compile_wall_ms,
        "compile_cpu_time": sandbox.compile_cpu_ms,
        "compile_memory_limit": sandbox.compile_memory_mb,
    }
    try:
        asked = PistonExecuteRequest.model_validate(body, context=PistonContext(maxima))
    except ValidationError as exc:
        raise PistonError(first_refusal(exc)) from None
    entry, *others = asked.files
    limits = {
        "wallTimeMs": asked.limit("run_timeout"),
        "cpuTimeMs": asked.limit("run_cpu_time"),
        "memoryMb": asked.limit("run_memory_limit"),
        "compileWallTimeMs": asked.limit("compile_timeout"),
        "compileCpuTimeMs": asked.limit("compile_cpu_time"),
        "compileMemoryMb": asked.limit("compile_memory_limit"),
    }
    request: dict[str, Any] = {
        "language": runtime.sentinel,
        "code": entry.text(),
        "input": asked.stdin,
        "args": asked.args,
        "limits": {k: v for k, v in limits.items() if v is not None},
    }
    if others:
        request["files"] = [
            {"name": f.name, "content": f.content, "encoding": f.encoding} for f in others
        ]
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
