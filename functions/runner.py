"""Run one submission: compile once (or reuse the compile cache), run each test case in a fresh
sandbox, judge, summarise.

A job's verdict is that of its first failing test; its time is the sum of the tests' CPU time
and its memory the largest peak. With numberOfRuns N each case runs N times (stopping at a run
that fails): times and memory are the runs' averages, the output and verdict the last run's.
Infrastructure faults become `internal_error` with the cause logged, never a silent drop.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from eventing.contract import (
    ExecutionResult,
    Program,
    StageResult,
    Submission,
    TestCase,
    TestResult,
    Verdict,
)
from functions import (
    checkers,
    compile_cache,
    grading,
    interactive,
    precompiled,
    sandbox,
    sources,
    special_judge,
)
from functions.languages import Language, load_registry, served
from functions.settings import ExecutorSettings

log = structlog.get_logger(__name__)

# Merges stderr into stdout in order (one pipe for both), then becomes the program.
_REDIRECT = ("/bin/sh", "-c", 'exec "$@" 2>&1', "sh")
_CACHES: dict[tuple[Path, int], compile_cache.CompileCache] = {}
_CACHES_LOCK = threading.Lock()


def cache_for(settings: ExecutorSettings) -> compile_cache.CompileCache:
    """The process's compile cache for these settings (one per root and bound)."""
    key = (settings.cache_root / "compiled", settings.compile_cache_mb)
    with _CACHES_LOCK:
        if key not in _CACHES:
            bound = settings.compile_cache_mb * 1024 * 1024
            _CACHES[key] = compile_cache.CompileCache(key[0], bound)
        return _CACHES[key]


def run_limits(
    submission: Submission, language: Language, settings: ExecutorSettings
) -> sandbox.RunLimits:
    """The submission's limits, else the language's defaults, else the server's; all clamped."""
    asked, own = submission.limits, language.limits
    cpu_ms = asked.cpu_time_ms or own.get("cpu_ms") or settings.default_cpu_ms
    wall_ms = asked.wall_time_ms or own.get("wall_ms") or settings.default_wall_ms
    memory_mb = asked.memory_mb or own.get("memory_mb") or settings.default_memory_mb
    output_kb = asked.output_kb or settings.default_output_kb
    processes = asked.processes or own.get("processes") or settings.default_processes
    file_size_kb = asked.file_size_kb or settings.default_file_size_kb
    stack_kb = asked.stack_kb or settings.default_stack_kb
    return sandbox.RunLimits(
        cpu_ms=min(cpu_ms, settings.max_cpu_ms),
        wall_ms=min(wall_ms, settings.max_wall_ms),
        memory_kb=min(memory_mb, settings.max_memory_mb) * 1024,
        output_bytes=min(output_kb, settings.max_output_kb) * 1024,
        processes=min(processes, settings.max_processes),
        file_size_bytes=min(file_size_kb, settings.max_file_size_kb) * 1024,
        stack_bytes=min(stack_kb, settings.max_stack_kb) * 1024,
        address_space=language.address_space_limit,
        data_overhead_kb=language.data_overhead_mb * 1024,
        data_thread_stacks=language.data_thread_stacks,
    )


def compile_limits(
    language: Language, settings: ExecutorSettings, submission: Submission | None = None
) -> sandbox.RunLimits:
    """Compilers get their own, larger limits (the server's are the default and the maximum):
    a compile bomb is stopped like a run.

    A compile step that runs the submission's own code (the registry's `compile_runs_code`:
    perl -c runs BEGIN blocks, and perl has no switch against it) gets no more than the run's
    limits, or it is a way around them."""
    asked = submission.limits if submission is not None else None
    cpu_ms = (asked and asked.compile_cpu_time_ms) or settings.compile_cpu_ms
    wall_ms = (asked and asked.compile_wall_time_ms) or settings.compile_wall_ms
    memory_mb = (asked and asked.compile_memory_mb) or settings.compile_memory_mb
    limits = sandbox.RunLimits(
        cpu_ms=min(cpu_ms, settings.compile_cpu_ms),
        wall_ms=min(wall_ms, settings.compile_wall_ms),
        memory_kb=min(memory_mb, settings.compile_memory_mb) * 1024,
        output_bytes=64 * 1024,
        processes=128,
        tmp_bytes=128 * 1024 * 1024,
        address_space=language.address_space_limit,
        data_overhead_kb=language.data_overhead_mb * 1024,
        data_thread_stacks=language.data_thread_stacks,
    )
    if language.compile_runs_code and submission is not None:
        run = run_limits(submission, language, settings)
        limits = dataclasses.replace(
            limits,
            cpu_ms=min(limits.cpu_ms, run.cpu_ms),
            wall_ms=min(limits.wall_ms, run.wall_ms),
            memory_kb=min(limits.memory_kb, run.memory_kb),
            processes=min(limits.processes, run.processes),
        )
    return limits


def execute(
    submission: Submission,
    language: Language,
    settings: ExecutorSettings,
    catalog: dict[str, Language] | None = None,
) -> ExecutionResult:
    """Run `submission` and return its result; never raises for what the code does.

    A sandbox that cannot start raises SandboxUnavailable: that is the service's failure, not
    a verdict on the code (functions/app.py answers 503, and the broker retries). `catalog`:
    the languages a checker program may be written in (default: every installed one of the
    registry; an executor image always has python, the language it is written in)."""
    settings.jobs_root.mkdir(parents=True, exist_ok=True)
    # The pid in the name: what a killed executor left is removed at the next start.
    work = Path(tempfile.mkdtemp(prefix=f"job-{os.getpid()}-", dir=settings.jobs_root))
    try:
        return _execute(submission, language, settings, work, catalog)
    except sandbox.SandboxUnavailable:
        raise  # the executor answers 503: the broker retries, elsewhere when there is one
    except Exception as exc:  # an infrastructure fault, not the user's code
        log.exception("execution failed", job=submission.id)
        # The cause goes to the log only: its text names host paths of the work directory.
        error = f"internal error ({type(exc).__name__}); logged by {settings.name}"
        return _unrun(submission, language, settings, "internal_error", error=error)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class _Compiled:
    entry: str
    stage: StageResult | None
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.stage is not None and self.stage.verdict != "accepted"


def _execute(
    submission: Submission,
    language: Language,
    settings: ExecutorSettings,
    work: Path,
    catalog: dict[str, Language] | None,
) -> ExecutionResult:
    box = work / "box"
    options = tuple((submission.compiler_options or "").split())
    refusal = _refused(language, options)
    if refusal:
        return _unrun(submission, language, settings, "compilation_error", compile_output=refusal)
    if language.compile:
        compiled = _compile(submission, language, settings, options, box, work)
    else:
        box.mkdir()
        compiled = _Compiled(sources.write(submission, language, box).entry, None)
    if compiled.failed:
        assert compiled.stage is not None
        return _unrun(
            submission,
            language,
            settings,
            compiled.stage.verdict,  # compilation_error, or a run's verdict (compile_runs_code)
            compile_output=compiled.message,
            compile=compiled.stage,
        )
    judge: special_judge.SetterProgram | None = None
    program = submission.checker or submission.interactor
    if program is not None:
        role = "checker" if submission.checker is not None else "interactor"
        prepared = _prepare_program(submission, program, role, settings, work, catalog)
        if isinstance(prepared, str):
            return _unrun(submission, language, settings, "internal_error", error=prepared)
        judge = special_judge.SetterProgram(*prepared)
    limits = run_limits(submission, language, settings)
    cases = submission.test_cases or [TestCase(input=submission.input)]
    results: list[TestResult] = []
    for case in cases:
        if judge is not None and submission.interactor is not None:
            result = _run_exchange(
                submission, case, language, limits, box, compiled.entry, judge, work
            )
        else:
            result = _run_case(submission, case, language, limits, box, compiled.entry, judge, work)
        results.append(result)
        if submission.stop_on_first_failure and result.verdict != "accepted":
            break
    return _summarise(submission, language, settings, results, compiled.stage)


_INSTALLED: dict[Path, dict[str, Language]] = {}


def _installed(settings: ExecutorSettings) -> dict[str, Language]:
    if settings.registry_path not in _INSTALLED:
        _INSTALLED[settings.registry_path] = served(load_registry(settings.registry_path), None)
    return _INSTALLED[settings.registry_path]


def _prepare_program(
    submission: Submission,
    program: Program,
    role: str,
    settings: ExecutorSettings,
    work: Path,
    catalog: dict[str, Language] | None,
) -> tuple[Language, Path, str, sandbox.RunLimits] | str:
    """The submission's checker or interactor, compiled (through the compile cache, like any
    compile): its language, box, entry file and limits; or why it cannot judge, which is the
    problem setter's fault, never the submission's."""
    languages = catalog if catalog is not None else _installed(settings)
    language = languages.get(program.language.strip().lower())
    if language is None:
        return f"the {role}'s language {program.language!r} is not installed on this executor"
    as_submission = Submission(
        id=f"{submission.id}-{role}",
        language=language.id,
        code=program.code,
        files=special_judge.helper_files(language.id, program.files),
        limits=program.limits,
    )
    box = work / role
    if language.compile:
        compiled = _compile(as_submission, language, settings, (), box, work / f"{role}-work")
        if compiled.failed:
            reason = compiled.message[: special_judge.MESSAGE_CHARS]
            return f"the {role} did not compile: {reason}"
        entry = compiled.entry
    else:
        box.mkdir()
        entry = sources.write(as_submission, language, box).entry
    return language, box, entry, run_limits(as_submission, language, settings)


def _refused(language: Language, options: tuple[str, ...]) -> str:
    """Why the submission's compilerOptions are refused ("" when they are not)."""
    if not options:
        return ""
    if not language.compile or not language.compiler_options:
        return f"compilerOptions: {language.id} takes no compiler options"
    refused = language.refused_options(options)
    if refused:
        return (
            f"compilerOptions: not allowed for {language.id}: {' '.join(refused)} "
            f"(allowed: {', '.join(language.compiler_options)})"
        )
    return ""


def _compile(
    submission: Submission,
    language: Language,
    settings: ExecutorSettings,
    options: tuple[str, ...],
    box: Path,
    work: Path,
) -> _Compiled:
    """Compile into `box`, through the compile cache: same inputs, same entry, no compiler.

    The sources are written into the job's own directory and hashed there, so a hit costs no
    directory on the cache's filesystem; only a miss gets a staging directory there (the entry
    is renamed into the cache from it). The sources are copied into the compile's own tmpfs
    /box and the box comes back out as a bounded archive (functions/box_files.py): nothing of
    the host is writable to a compiler. A staging directory never outlives the compile,
    whatever fails.
    """
    assert language.compile is not None
    cache = cache_for(settings)
    step = compile_limits(language, settings, submission)
    sources_dir = work / "src"
    sources_dir.mkdir(parents=True, exist_ok=True)
    written = sources.write(submission, language, sources_dir)
    key = cache.key(
        [language.id, language.version, *language.compile, *options, *_limits_key(step)],
        sources_dir,
    )
    hit = cache.lookup(key)
    if hit is not None:
        try:
            compile_cache.link_copy(hit.box, box)
            stage = StageResult(**{**hit.meta["stage"], "cached": True})
            return _Compiled(written.entry, stage, str(hit.meta.get("message", "")))
        except (OSError, KeyError, TypeError):  # evicted meanwhile: compile after all
            shutil.rmtree(box, ignore_errors=True)
    staged = cache.staging() if cache.enabled else work / "stage"
    try:
        return _compile_staged(
            language, settings, options, step, written, sources_dir, key, box, staged
        )
    finally:
        cache.discard(staged)  # (already renamed into the cache when it was stored)
        shutil.rmtree(sources_dir, ignore_errors=True)


def _compile_staged(
    language: Language,
    settings: ExecutorSettings,
    options: tuple[str, ...],
    step: sandbox.RunLimits,
    written: sources.Sources,
    sources_dir: Path,
    key: str,
    box: Path,
    staged: Path,
) -> _Compiled:
    """A compile the cache did not have: run the compiler, keep its box in `staged` (on the
    cache's filesystem), store it as the entry for `key` unless a limit stopped it."""
    assert language.compile is not None
    cache = cache_for(settings)
    pch = precompiled.ready(language, settings.cache_root)
    argv = language.expand(
        language.compile,
        step.memory_kb,
        written.entry,
        sources=written.compiled,
        options=options,
        pch_dir=precompiled.INSIDE if pch else "/nonexistent",
    )
    outcome = sandbox.run(
        argv,
        limits=step,
        box=sources_dir,
        keep_box=staged / "box",
        env=language.environment(step.memory_kb, written.entry),
        ro_paths=language.ro_paths,
        ro_binds=[(str(pch), precompiled.INSIDE)] if pch else [],
    )
    failed = (
        outcome.exit_code != 0
        or outcome.wall_timed_out
        or outcome.output_exceeded
        or bool(outcome.box_refused)
    )
    stopped = _stopped_by(outcome, step) if failed else ""
    message = (_text(outcome.stderr) + _text(outcome.stdout)) if failed else ""
    if stopped:
        message += f"\n[compilation stopped: {stopped}]"
    verdict: Verdict = "compilation_error"
    if stopped and language.compile_runs_code:
        verdict = _run_verdict_of(outcome, step)
    stage = StageResult(
        stdout=_text(outcome.stdout),
        stderr=_text(outcome.stderr),
        exit_code=outcome.exit_code,
        signal=outcome.signal_name,
        execution_time=outcome.cpu_ms,
        wall_time=outcome.wall_ms,
        memory_kb=outcome.memory_kb,
        verdict=verdict if failed else "accepted",
        cached=False,
    )
    # A compile that a limit stopped, or that was short of memory at any point (a compiler
    # that handles the refusal exits 1 like a real error), may pass another time: not kept.
    if cache.enabled and not stopped and not outcome.memory_hit_limit:
        meta = {"stage": stage.model_dump(exclude={"cached"}), "message": message}
        entry = cache.store(key, staged, meta)
        compile_cache.link_copy(entry.box, box)
    else:
        (staged / "box").mkdir(parents=True, exist_ok=True)
        (staged / "box").rename(box)
    return _Compiled(written.entry, stage, message)


def _limits_key(limits: sandbox.RunLimits) -> list[str]:
    """The limits a compile ran under, for its cache key: the same source compiled under other
    limits is another compile (a compiler short of memory fails, and that is not the source's
    fault)."""
    return [f"cpu={limits.cpu_ms}", f"wall={limits.wall_ms}", f"memory={limits.memory_kb}"]


def _run_verdict_of(outcome: sandbox.RunOutcome, limits: sandbox.RunLimits) -> Verdict:
    """The verdict of a compile step that runs the submission's own code (perl's BEGIN blocks)
    and was stopped by the run's limits: what the same stop would be for a run."""
    if outcome.wall_timed_out or outcome.cpu_ms > limits.cpu_ms:
        return "time_limit_exceeded"
    if outcome.signal_name == "SIGXCPU":
        return "time_limit_exceeded"
    if outcome.memory_exceeded:
        return "memory_limit_exceeded"
    if outcome.output_exceeded:
        return "output_limit_exceeded"
    return "runtime_error"


def _stopped_by(outcome: sandbox.RunOutcome, limits: sandbox.RunLimits) -> str:
    """Which limit ended a compile step, if one did ("" for an ordinary compile error)."""
    if outcome.wall_timed_out:
        return f"wall time limit of {limits.wall_ms} ms"
    if outcome.cpu_ms > limits.cpu_ms or outcome.signal_name == "SIGXCPU":
        return f"CPU time limit of {limits.cpu_ms} ms"
    if outcome.memory_exceeded:
        return f"memory limit of {limits.memory_kb // 1024} MB"
    if outcome.output_exceeded:
        return f"output limit of {limits.output_bytes // 1024} KB"
    if outcome.box_refused:
        return outcome.box_refused
    if outcome.signal is not None:
        return f"killed by {outcome.signal_name}"
    return ""


def _run_case(
    submission: Submission,
    case: TestCase,
    language: Language,
    limits: sandbox.RunLimits,
    box: Path,
    source: str,
    checker: special_judge.SetterProgram | None = None,
    work: Path | None = None,
) -> TestResult:
    argv = (*language.expand(language.run, limits.memory_kb, source), *submission.args)
    if submission.redirect_stderr_to_stdout:
        argv = (*_REDIRECT, *argv)
    tolerance = checkers.Tolerance(submission.absolute_tolerance, submission.relative_tolerance)
    runs: list[tuple[sandbox.RunOutcome, str]] = []
    for _ in range(submission.number_of_runs):
        outcome = sandbox.run(
            argv,
            limits=limits,
            stdin=case.input.encode(),
            box=box,
            env=language.environment(limits.memory_kb, source),
            ro_paths=language.ro_paths,
        )
        verdict = grading.verdict(
            outcome,
            limits,
            None if checker is not None else case.expected,  # the checker compares
            _text(outcome.stdout),
            submission.compare,
            language.out_of_memory,
            tolerance,
        )
        runs.append((outcome, verdict))
        if verdict != "accepted":
            break
    outcome, verdict = runs[-1]
    actual = _text(outcome.stdout)
    error = _text(outcome.stderr)
    judged = None
    if checker is not None and verdict == "accepted":  # it ran to a normal end: judge it
        assert work is not None
        scratch = Path(tempfile.mkdtemp(prefix="check-", dir=work))
        try:
            judged = checker.judge(case.input, actual, case.expected or "", scratch, case.points)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        verdict = judged.verdict
    if verdict == "wrong_answer" and submission.compare == "regex" and case.expected is not None:
        note = checkers.pattern(actual, case.expected).note
        error += f"\n[{note}]" if note else ""
    passed = None if case.expected is None and judged is None else verdict == "accepted"
    points = _earned(case, verdict, judged)
    return TestResult(
        input=case.input,
        expected=case.expected,
        actual_output=actual,
        error=error,
        passed=passed,
        verdict=verdict,  # type: ignore[arg-type]
        execution_time=_mean(o.cpu_ms for o, _ in runs),
        wall_time=_mean(o.wall_ms for o, _ in runs),
        memory_kb=_mean(o.memory_kb for o, _ in runs),
        exit_code=outcome.exit_code,
        signal=outcome.signal_name,
        name=case.name,
        points=points,
        checker=judged.run if judged is not None else None,
        message=judged.message if judged is not None else None,
        limit_exceeded=grading.limit_exceeded(outcome, verdict),  # type: ignore[arg-type]
    )


def _run_exchange(
    submission: Submission,
    case: TestCase,
    language: Language,
    limits: sandbox.RunLimits,
    box: Path,
    source: str,
    interactor: special_judge.SetterProgram,
    work: Path,
) -> TestResult:
    """One test of an interactive problem: the submission and the interactor at once."""
    argv = (*language.expand(language.run, limits.memory_kb, source), *submission.args)
    solution = special_judge.Side(
        argv=argv,
        limits=limits,
        box=box,
        env=language.environment(limits.memory_kb, source),
        ro_paths=language.ro_paths,
        out_of_memory=language.out_of_memory,
    )
    scratch = Path(tempfile.mkdtemp(prefix="exchange-", dir=work))
    try:
        files = {special_judge.INPUT: case.input, special_judge.ANSWER: case.expected or ""}
        other = interactor.side(scratch, files)
        keep = bool(submission.interactor and submission.interactor.transcript)
        exchange = interactive.run(solution, other, keep_transcript=keep)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    verdict, judged = interactive.verdict(
        exchange, solution, other, interactor.language, case.points
    )
    outcome = exchange.solution
    points = _earned(case, verdict, judged)
    return TestResult(
        input=case.input,
        expected=case.expected,
        actual_output="",
        error=_text(outcome.stderr),
        passed=verdict == "accepted",
        verdict=verdict,
        execution_time=outcome.cpu_ms,
        wall_time=outcome.wall_ms,
        memory_kb=outcome.memory_kb,
        exit_code=outcome.exit_code,
        signal=outcome.signal_name,
        name=case.name,
        points=points,
        message=judged.message,
        interactor=judged.run,
        transcript=exchange.transcript,
        limit_exceeded=grading.limit_exceeded(outcome, verdict),  # type: ignore[arg-type]
    )


def _earned(case: TestCase, verdict: str, judged: special_judge.Judgement | None) -> float | None:
    """What a test earned: the points a checker or interactor gave, else the case's points
    when it passed (None when the case is worth none)."""
    if judged is not None and judged.points is not None:
        return judged.points
    if case.points is None:
        return None
    return case.points if verdict == "accepted" else 0.0


def _summarise(
    submission: Submission,
    language: Language,
    settings: ExecutorSettings,
    results: list[TestResult],
    stage: StageResult | None,
) -> ExecutionResult:
    first_failure = next((r for r in results if r.verdict != "accepted"), None)
    decisive = first_failure or results[-1]
    single = submission.test_cases is None
    cases = submission.test_cases or []
    scored = any(case.points is not None for case in cases)
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
        compile=stage,
        score=sum(r.points or 0.0 for r in results) if scored else None,
        max_score=sum(case.points or 0.0 for case in cases) if scored else None,
        executor=settings.name,
        limit_exceeded=decisive.limit_exceeded,
    )


def _unrun(
    submission: Submission,
    language: Language,
    settings: ExecutorSettings,
    verdict: Verdict,
    **fields: Any,
) -> ExecutionResult:
    """The result of a job whose code never ran (refused, did not compile, or our fault)."""
    return ExecutionResult(
        id=submission.id, language=language.id, verdict=verdict, executor=settings.name, **fields
    )


def _mean(values: Iterable[int]) -> int:
    numbers = list(values)
    return round(sum(numbers) / len(numbers))


def _joined(results: list[TestResult]) -> str:
    """Every test's output, one block per test (the seed's `output` in test-cases mode)."""
    return "\n".join(r.actual_output.rstrip("\n") for r in results)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
