"""The executor's HTTP service (Knative's runtime contract: listens on $PORT, one request per job).

POST / takes a `dev.sentinel.execution.requested` CloudEvent (binary or structured) and answers
200 with the reply `dev.sentinel.execution.completed` in binary mode; the dispatcher publishes
that reply to the broker. A request that is not a valid event gets 400 (not retried).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import structlog
from flask import Flask, Response, jsonify, request

from eventing import contract, logs
from eventing.executor_shapes import (
    CompileCacheStats,
    ErrorReport,
    HealthReport,
    LanguageReport,
    LanguagesReport,
    LimitsReport,
    UnavailableLanguage,
)
from functions import identity, leftovers, precompiled, procfs, runner, sandbox
from functions.events import StartedEvents
from functions.languages import Language, load_registry, resolve, served
from functions.readiness import Readiness
from functions.running import RunningJobs
from functions.settings import ExecutorSettings

log = structlog.get_logger(__name__)
NO_PROCFS = "a private /proc in the sandbox (this host's /proc is masked: functions/procfs.py)"


def create_app(settings: ExecutorSettings | None = None) -> Flask:
    """Build the executor app; the languages it serves are decided here, once."""
    settings = settings or ExecutorSettings.from_env()
    logs.configure("executor")
    registry = load_registry(settings.registry_path)
    languages = served(registry, settings.languages)
    wanted = registry if settings.languages is None else settings.languages
    # Configured for this executor but not installed: named with what is missing, so the
    # ingress can refuse them with a clear 400 rather than queue jobs that cannot run.
    unavailable = {
        name: registry[name].missing()
        for name in wanted
        if name in registry and name not in languages
    }
    if procfs.mode() == procfs.STATIC:
        for name in [n for n, lang in languages.items() if lang.needs_procfs]:
            unavailable[name] = [NO_PROCFS]
            del languages[name]
    # A checker program may be in any installed language of the registry (python always is:
    # the executor is written in it), not only the ones this executor serves.
    checker_languages = {
        name: lang
        for name, lang in served(registry, None).items()
        if not (lang.needs_procfs and procfs.mode() == procfs.STATIC)
    }
    swept = sandbox.sweep_stale()
    left = leftovers.sweep(
        *{settings.work_dir, settings.jobs_root}, runner.cache_for(settings).root / ".tmp"
    ) + leftovers.sweep_stdin_files(Path(tempfile.gettempdir()))
    if swept or left:
        log.info("removed what a killed executor left", groups=swept, directories=left)
    for language in languages.values():
        precompiled.ready(language, settings.cache_root)  # built in the background, once
    started = StartedEvents(settings.sink_url, settings.name, settings.started_delay_s)
    running = RunningJobs()
    # At most `slots` runs per language at once, each language its own (functions/__main__.py
    # gives the threads): a flood of one language leaves the others' slots free.
    gates = {name: threading.BoundedSemaphore(settings.slots) for name in languages}
    readiness = Readiness()
    readiness.check_in_background()
    app = Flask(__name__)

    def _execute(submission: contract.Submission, language: Language) -> contract.ExecutionResult:
        """Run it in one of its language's slots: started (unless it ends within the started
        event's delay), run, bounded."""
        finished = started.announce(submission, language.id)
        try:
            result = runner.execute(submission, language, settings, checker_languages)
        finally:
            finished()  # no started event for a job shorter than its delay
        return contract.bounded(result, settings.max_result_bytes)

    @app.post("/")
    def handle_event() -> Response | tuple[Response, int] | tuple[Response, int, dict[str, str]]:
        try:
            event = contract.from_http(dict(request.headers), request.get_data())
            if event.get_type() != contract.REQUESTED:
                raise contract.ContractError(f"this service takes {contract.REQUESTED} events")
            submission = contract.payload_of(event)
            assert isinstance(submission, contract.Submission)
        except contract.ContractError as exc:
            return _error(str(exc)), 400
        language = resolve(languages, submission.language)
        if language is None:
            return _error(f"language {submission.language!r} is not served here"), 400
        log.info(
            "executing",
            job=submission.id,
            language=language.id,
            requestid=event.get_extension("requestid"),
        )
        run, first = running.enter(submission.id)
        if not first:
            # A delivery that timed out and came again: never run one job twice at once.
            log.info("already running; answering with that run's result", job=submission.id)
            result = run.wait()
        else:
            try:
                with gates[language.id]:
                    result = _execute(submission, language)
                run.done(result)
            except sandbox.SandboxUnavailable as exc:
                # The service's failure, never the code's: 503, and the broker retries.
                log.error("sandbox unavailable", job=submission.id, error=str(exc))
                readiness.failed(str(exc))
                return _error(str(exc)), 503, {"Retry-After": "5"}
            finally:
                running.leave(submission.id, run)
        log.info(
            "executed",
            job=submission.id,
            verdict=result.verdict,
            cpu_ms=result.execution_time,
            wall_ms=result.wall_time,
        )
        reply = contract.make_event(
            contract.COMPLETED,
            result,
            source=f"/sentinel/{settings.name}",
            language=language.id,
            callback=submission.callback_url is not None,
        )
        headers, body = contract.to_binary(reply)
        return Response(body, status=200, headers=headers)

    @app.get("/health")
    def health() -> tuple[Response, int]:
        ready, reason = readiness.state()
        report = HealthReport(
            status="ok" if ready else "unavailable",
            reason=reason or None,
            executor=settings.name,
            languages=sorted(languages),
            limits=sandbox.limits_mode(),
            proc=procfs.mode(),
            compile_cache=_cache_stats(settings),
            user=os.geteuid(),
            sandbox_user=identity.sandbox_ids().uid,
            spares=sandbox.spare_count(),
            headers_building=precompiled.building(),
        )
        return jsonify(report.wire()), 200 if ready else 503

    @app.get("/languages")
    def list_languages() -> Response:
        report = LanguagesReport(
            languages=[_describe(lang) for lang in languages.values()],
            unavailable=[
                UnavailableLanguage(
                    name=name, missing=missing, packages=list(registry[name].packages)
                )
                for name, missing in sorted(unavailable.items())
            ],
            # The ingress's compatibility APIs describe these (Judge0's /config_info) and
            # default to them (Piston): the executor is their one source.
            limits=_limits(settings),
        )
        return jsonify(report.wire())

    return app


def _error(message: str) -> Response:
    """An error answer's body (eventing/executor_shapes.py): {"error": message}."""
    return jsonify(ErrorReport(error=message).wire())


def _limits(settings: ExecutorSettings) -> LimitsReport:
    """The default and maximum limits this executor applies: each field of the report is the
    setting of the same name (functions/settings.py)."""
    return LimitsReport(**{name: getattr(settings, name) for name in LimitsReport.model_fields})


def _cache_stats(settings: ExecutorSettings) -> CompileCacheStats:
    cache = runner.cache_for(settings)
    return CompileCacheStats(
        hits=cache.stats.hits,
        misses=cache.stats.misses,
        stores=cache.stats.stores,
        evictions=cache.stats.evictions,
        max_bytes=cache.max_bytes,
    )


def _describe(language: Language) -> LanguageReport:
    return LanguageReport(
        name=language.id,
        display_name=language.display_name,
        description=language.description,
        example=language.example,
        version=language.version,
        aliases=list(language.aliases),
    )
