"""Run one submission: compile once, run each test case in a fresh sandbox, judge, summarise.

A job's verdict is that of its first failing test; its time is the sum of the tests' CPU time
and its memory the largest peak. Infrastructure faults become `internal_error` with the cause
logged, never a silent drop.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from pathlib import Path

import structlog

from eventing.contract import ExecutionResult, SourceFile, Submission, TestCase, TestResult
from functions import grading, sandbox
from functions.languages import Language
from functions.settings import ExecutorSettings

log = structlog.get_logger(__name__)


def run_limits(
    submission: Submission, language: Language, settings: ExecutorSettings
) -> sandbox.Limits:
    """The submission's limits, else the language's defaults, else the server's; all clamped."""
    asked, own = submission.limits, language.limits
    cpu_ms = asked.cpu_time_ms or own.get("cpu_ms") or settings.default_cpu_ms
    wall_ms = asked.wall_time_ms or own.get("wall_ms") or settings.default_wall_ms
    memory_mb = asked.memory_mb or own.get("memory_mb") or settings.default_memory_mb
    output_kb = asked.output_kb or settings.default_output_kb
    return sandbox.Limits(
        cpu_ms=min(cpu_ms, settings.max_cpu_ms),
        wall_ms=min(wall_ms, settings.max_wall_ms),
        memory_kb=min(memory_mb, settings.max_memory_mb) * 1024,
        output_bytes=min(output_kb, settings.max_output_kb) * 1024,
        processes=own.get("processes") or settings.default_processes,
        address_space=language.address_space_limit,
    )


def compile_limits(language: Language, settings: ExecutorSettings) -> sandbox.Limits:
    """Compilers get their own, larger, fixed limits: a compile bomb is stopped like a run."""
    return sandbox.Limits(
        cpu_ms=settings.compile_cpu_ms,
        wall_ms=settings.compile_wall_ms,
        memory_kb=settings.compile_memory_mb * 1024,
        output_bytes=64 * 1024,
        processes=128,
        tmp_bytes=256 * 1024 * 1024,
        address_space=language.address_space_limit,
    )


def execute(
    submission: Submission, language: Language, settings: ExecutorSettings
) -> ExecutionResult:
    """Run `submission` and return its result; never raises for what the code does."""
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="job-", dir=settings.work_dir))
    try:
        return _execute(submission, language, settings, work)
    except sandbox.SandboxUnavailable as exc:
        log.error("sandbox unavailable", job=submission.id, error=str(exc))
        return _internal_error(submission, language, settings, str(exc))
    except Exception as exc:  # an infrastructure fault, not the user's code
        log.exception("execution failed", job=submission.id)
        return _internal_error(submission, language, settings, f"internal error: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _execute(
    submission: Submission, language: Language, settings: ExecutorSettings, work: Path
) -> ExecutionResult:
    box = work / "box"
    box.mkdir()
    entry = submission.code
    if entry is None:  # multi-file: the first file is the entry point (issue 4 refines this)
        assert submission.files
        entry = _decoded(submission.files[0])
    source = language.source_name(entry)
    for extra in (submission.files or [])[0 if submission.code is not None else 1 :]:
        path = box / extra.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            _decoded(extra).encode()
            if extra.encoding == "utf8"
            else base64.b64decode(extra.content)
        )
    (box / source).write_text(entry)
    if language.compile:
        step = compile_limits(language, settings)
        compiled = sandbox.run(
            language.expand(language.compile, step.memory_kb, source),
            limits=step,
            box=box,
            env=language.environment(step.memory_kb, source),
            ro_paths=language.ro_paths,
        )
        if compiled.exit_code != 0 or compiled.wall_timed_out or compiled.output_exceeded:
            message = _text(compiled.stderr) + _text(compiled.stdout)
            stopped = _stopped_by(compiled, step)
            if stopped:
                message += f"\n[compilation stopped: {stopped}]"
            return ExecutionResult(
                id=submission.id,
                language=language.id,
                verdict="compilation_error",
                compile_output=message,
                executor=settings.name,
            )
    limits = run_limits(submission, language, settings)
    cases = submission.test_cases or [TestCase(input=submission.input)]
    results: list[TestResult] = []
    for case in cases:
        result = _run_case(case, language, limits, box, source, submission.compare)
        results.append(result)
        if submission.stop_on_first_failure and result.verdict != "accepted":
            break
    return _summarise(submission, language, settings, results)


def _stopped_by(outcome: sandbox.Outcome, limits: sandbox.Limits) -> str:
    """Which limit ended a compile step, if one did ("" for an ordinary compile error)."""
    if outcome.wall_timed_out:
        return f"wall time limit of {limits.wall_ms} ms"
    if outcome.cpu_ms > limits.cpu_ms or outcome.signal_name == "SIGXCPU":
        return f"CPU time limit of {limits.cpu_ms} ms"
    if outcome.memory_exceeded:
        return f"memory limit of {limits.memory_kb // 1024} MB"
    if outcome.output_exceeded:
        return f"output limit of {limits.output_bytes // 1024} KB"
    if outcome.signal is not None:
        return f"killed by {outcome.signal_name}"
    return ""


def _run_case(
    case: TestCase,
    language: Language,
    limits: sandbox.Limits,
    box: Path,
    source: str,
    compare: str,
) -> TestResult:
    outcome = sandbox.run(
        language.expand(language.run, limits.memory_kb, source),
        limits=limits,
        stdin=case.input.encode(),
        box_files=box,
        env=language.environment(limits.memory_kb, source),
        ro_paths=language.ro_paths,
    )
    actual = _text(outcome.stdout)
    verdict = grading.verdict(
        outcome, limits, case.expected, actual, compare, language.out_of_memory
    )
    return TestResult(
        input=case.input,
        expected=case.expected,
        actual_output=actual,
        error=_text(outcome.stderr),
        passed=None if case.expected is None else verdict == "accepted",
        verdict=verdict,  # type: ignore[arg-type]
        execution_time=outcome.cpu_ms,
        wall_time=outcome.wall_ms,
        memory_kb=outcome.memory_kb,
        exit_code=outcome.exit_code,
        signal=outcome.signal_name,
    )


def _summarise(
    submission: Submission,
    language: Language,
    settings: ExecutorSettings,
    results: list[TestResult],
) -> ExecutionResult:
    first_failure = next((r for r in results if r.verdict != "accepted"), None)
    decisive = first_failure or results[-1]
    single = submission.test_cases is None
    return ExecutionResult(
        id=submission.id,
        language=language.id,
        verdict=decisive.verdict,
        output=results[0].actual_output if single else _joined(results),
        error=decisive.error,
        execution_time=sum(r.execution_time for r in results),
        wall_time=sum(r.wall_time for r in results),
        memory_kb=max(r.memory_kb for r in results),
        exit_code=decisive.exit_code,
        signal=decisive.signal,
        test_cases=None if single else results,
        executor=settings.name,
    )


def _internal_error(
    submission: Submission, language: Language, settings: ExecutorSettings, message: str
) -> ExecutionResult:
    return ExecutionResult(
        id=submission.id,
        language=language.id,
        verdict="internal_error",
        error=message,
        executor=settings.name,
    )


def _joined(results: list[TestResult]) -> str:
    """Every test's output, one block per test (the seed's `output` in test-cases mode)."""
    return "\n".join(r.actual_output.rstrip("\n") for r in results)


def _decoded(source: SourceFile) -> str:
    """A source file's text (base64 content decoded; bytes that are not UTF-8 replaced)."""
    if source.encoding == "base64":
        return base64.b64decode(source.content).decode("utf-8", errors="replace")
    return source.content


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
