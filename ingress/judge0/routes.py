"""The Judge0 CE 1.13.1 endpoints (Blueprint `judge0`, mounted at /judge0).

Errors answer in Judge0's shapes: 422 {field: [messages]} for a submission that does not
validate, 400/404/503 {"error": "..."} otherwise, a bare 401/403 for authentication, as
Judge0 does. Queueing and waiting are the native API's (ingress/submissions.py).
"""

from __future__ import annotations

import json
import os
import platform
from collections import Counter
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from eventing import contract, keys, strictjson
from ingress import submissions, validation
from ingress.backlog import backlog
from ingress.errors import ApiError, respond
from ingress.judge0 import language_ids, shapes, statuses, translate
from ingress.services import key_matches, services, spend

judge0 = Blueprint("judge0", __name__, url_prefix="/judge0")

VERSION = "1.13.1"
# Sentinel's field names (dotted, camelCase) as Judge0 names them, for 422 answers.
_FIELD_NAMES = {
    "code": "source_code",
    "files": "additional_files",
    "input": "stdin",
    "testCases.0.input": "stdin",
    "testCases.0.expected": "expected_output",
    "callbackUrl": "callback_url",
    "language": "language_id",
}


@judge0.before_request
def authenticate() -> Response | None:
    """X-Auth-Token (AUTHN) on every call when configured; Sentinel's API keys count too, sent
    as X-Auth-Token or X-API-Key. X-Auth-User (AUTHZ) for /workers and /system_info."""
    settings = services().settings
    compat = settings.compat
    accepted = compat.judge0_authn_tokens | settings.api_keys
    if accepted:
        given = request.headers.get(compat.judge0_authn_header) or request.headers.get(
            "X-API-Key", ""
        )
        if not key_matches(given, accepted):
            return respond(
                ApiError(401, "a valid X-Auth-Token is required"), {"error": "Unauthorized"}
            )
    privileged = request.endpoint in ("judge0.workers", "judge0.system_info")
    if (
        compat.judge0_authz_tokens
        and privileged
        and not key_matches(
            request.headers.get(compat.judge0_authz_header, ""), compat.judge0_authz_tokens
        )
    ):
        return respond(ApiError(403, "a valid X-Auth-User is required"), {"error": "Forbidden"})
    return None


@judge0.errorhandler(translate.Invalid)
def invalid(exc: translate.Invalid) -> tuple[Response, int]:
    return jsonify(exc.errors), 422


@judge0.errorhandler(ApiError)
def api_error(exc: ApiError) -> Response:
    return respond(exc, shapes.Judge0Error(error=exc.message).wire())


@judge0.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> tuple[Response, int]:
    return jsonify(error=exc.description), exc.code or 500


def _flag(name: str) -> bool:
    return request.args.get(name, "").strip().lower() == "true"


def _fields() -> list[str]:
    wanted = translate.requested_fields(request.args.get("fields"))
    if isinstance(wanted, str):
        raise ApiError(400, wanted)
    return wanted


def _body() -> Any:
    try:
        return strictjson.loads(request.get_data() or b"{}")
    except strictjson.JSONRefused as exc:
        raise ApiError(400, f"the body must be JSON: {exc}") from None


def _accept(
    item: Any, base64_encoded: bool, offered: dict[int, str]
) -> tuple[contract.SubmissionRequest, str, dict[str, str]]:
    """Validate one Judge0 submission: (request, Sentinel language, record fields)."""
    settings = services().settings
    request_model, echo = translate.parse(
        item, base64_encoded, settings, services().catalog.limits(), offered
    )
    try:
        checked, language = validation.submission(
            request_model.wire(), settings, services().catalog
        )
    except ApiError as exc:
        field = str(exc.extra.get("field", "base"))
        message = exc.message.split(": ", 1)[-1]
        raise translate.Invalid({_FIELD_NAMES.get(field, field): [message]}) from None
    return checked, language, {translate.RECORD_FIELD: json.dumps(echo)}


def _offered() -> dict[int, str]:
    return {jid: entry[0] for jid, entry in language_ids.offered(services().catalog).items()}


def _render(record: dict[str, Any], fields: list[str], base64_encoded: bool) -> dict[str, Any]:
    echo = json.loads(record.get(translate.RECORD_FIELD) or "{}")
    name = language_ids.language_name(services().catalog, int(echo.get("language_id") or 0))
    return translate.render(record, fields, base64_encoded, name)


@judge0.post("/submissions")
def create() -> tuple[Response, int]:
    """Queue one submission: 201 {token}; with ?wait=true, 201 with the finished submission
    (or its state so far when it takes longer than SENTINEL_WAIT_MAX_S)."""
    svc = services()
    spend("submit")
    fields = _fields()
    base64_encoded = _flag("base64_encoded")
    checked, language, extra = _accept(_body(), base64_encoded, _offered())
    source = "/sentinel/ingress/judge0"
    if not _flag("wait"):
        job = submissions.submit_one(
            svc, checked, language, g.request_id, source=source, extra_fields=extra
        )
        return jsonify(shapes.Judge0Token(token=job.id).wire()), 201
    job, record = submissions.submit_and_wait(
        svc, checked, language, g.request_id, svc.settings.wait_max_s, source, extra
    )
    record = record or svc.store.get(job.id)
    if record is None:  # expired at once: only possible with a tiny job TTL
        return jsonify(shapes.Judge0Token(token=job.id).wire()), 201
    return jsonify(_render(record, fields, base64_encoded)), 201


@judge0.get("/submissions/<token>")
def show(token: str) -> Response:
    """One submission, with ?fields (default: Judge0's eight) and ?base64_encoded."""
    fields = _fields()
    record = services().store.get(token)
    if record is None:
        raise ApiError(404, "submission not found")
    return jsonify(_render(record, fields, _flag("base64_encoded")))


@judge0.post("/submissions/batch")
def batch_create() -> tuple[Response, int]:
    """Queue up to max_submission_batch_size submissions in one transaction: per item {token}
    or its errors; 201 when any was queued, else 422."""
    svc = services()
    body = _body()
    items = body.get("submissions") if isinstance(body, dict) else None
    count = len(items) if isinstance(items, list) else 0
    if count > svc.settings.max_batch:
        raise ApiError(
            400,
            "number of submissions in a batch should be less than or equal to "
            f"{svc.settings.max_batch}",
        )
    if count == 0 or not isinstance(items, list):
        raise ApiError(400, "there should be at least one submission in a batch")
    spend("submit", count)
    base64_encoded = _flag("base64_encoded")
    offered = _offered()
    answers: list[dict[str, Any] | None] = [None] * count
    accepted: list[tuple[int, contract.SubmissionRequest, str, dict[str, str]]] = []
    for index, item in enumerate(items):
        try:
            checked, language, extra = _accept(item, base64_encoded, offered)
        except translate.Invalid as exc:
            answers[index] = dict(exc.errors)
            continue
        accepted.append((index, checked, language, extra))
    room = submissions.headroom(svc, Counter(language for _, _, language, _ in accepted))
    admitted = []
    for entry in accepted:
        if room[entry[2]] < 1:
            answers[entry[0]] = {"error": [f"the {entry[2]} queue is full"]}
            continue
        room[entry[2]] -= 1
        admitted.append(entry)
    queued = submissions.enqueue(
        svc,
        [(checked, language) for _, checked, language, _ in admitted],
        g.request_id,
        source="/sentinel/ingress/judge0",
        extra_fields=[extra for _, _, _, extra in admitted],
    )
    for (index, _, _, _), job in zip(admitted, queued, strict=True):
        answers[index] = shapes.Judge0Token(token=job.id).wire()
    return jsonify(answers), 201 if queued else 422


@judge0.get("/submissions/batch")
def batch_show() -> Response:
    """Several submissions by ?tokens=a,b,c: {"submissions": [...]}, null for unknown ones."""
    svc = services()
    fields = _fields()
    raw = request.headers.get("tokens") or request.args.get("tokens", "")
    tokens = [t for t in raw.strip().split(",") if t]
    if len(tokens) > svc.settings.max_batch:
        raise ApiError(
            400,
            "number of submissions in a batch should be less than or equal to "
            f"{svc.settings.max_batch}",
        )
    if not tokens:
        raise ApiError(400, "there should be at least one submission in a batch")
    base64_encoded = _flag("base64_encoded")
    found = []
    for token in tokens:
        record = svc.store.get(token)
        found.append(None if record is None else _render(record, fields, base64_encoded))
    return jsonify(submissions=found)


@judge0.get("/languages")
@judge0.get("/languages/all")
def language_list() -> Response:
    """[{id, name}] of the offered Judge0 ids, by name as Judge0 orders them."""
    entries = [
        shapes.Judge0LanguageRef.model_validate(entry)
        for _, entry in language_ids.offered(services().catalog).values()
    ]
    return jsonify([e.wire() for e in sorted(entries, key=lambda e: (e.name, e.id or 0))])


@judge0.get("/languages/<int:language_id>")
def language(language_id: int) -> Response:
    """One language: {id, name, is_archived, source_file, compile_cmd, run_cmd}. Sentinel's
    commands live in its executors' registry, so the two *_cmd are null."""
    entry = language_ids.offered(services().catalog).get(language_id)
    if entry is None:
        raise ApiError(404, "language not found")
    return jsonify(
        shapes.Judge0Language(
            id=language_id,
            name=entry[1]["name"],
            is_archived=False,
            source_file=language_ids.BY_ID[language_id].source_file,
            compile_cmd=None,
            run_cmd=None,
        ).wire()
    )


@judge0.get("/statuses")
def status_list() -> Response:
    """The 14 statuses: [{id, description}]."""
    return jsonify(
        [
            shapes.Judge0Status.model_validate(statuses.status(status_id)).wire()
            for status_id in statuses.STATUSES
        ]
    )


@judge0.get("/config_info")
def config_info() -> Response:
    """Every key of Judge0 1.13.1's /config_info, with Sentinel's real values."""
    settings = services().settings
    limits = translate.config_limits(services().catalog.limits())
    callbacks = bool(settings.callbacks.secret)
    return jsonify(
        shapes.Judge0ConfigInfo(
            maintenance_mode=False,
            enable_wait_result=True,
            enable_compiler_options=True,
            allowed_languages_for_compile_options=[],
            enable_command_line_arguments=True,
            enable_submission_delete=False,
            enable_callbacks=callbacks,
            callbacks_max_tries=11,  # the callbacks-completed trigger: 1 + 10 retries
            callbacks_timeout=float(settings.callbacks.timeout_s),
            enable_additional_files=True,
            max_queue_size=settings.backlog_cap or 0,
            cpu_time_limit=limits["cpu_time_limit"],
            max_cpu_time_limit=limits["max_cpu_time_limit"],
            cpu_extra_time=limits["cpu_extra_time"],
            max_cpu_extra_time=limits["max_cpu_extra_time"],
            wall_time_limit=limits["wall_time_limit"],
            max_wall_time_limit=limits["max_wall_time_limit"],
            memory_limit=limits["memory_limit"],
            max_memory_limit=limits["max_memory_limit"],
            stack_limit=limits["stack_limit"],
            max_stack_limit=limits["max_stack_limit"],
            max_processes_and_or_threads=limits["max_processes_and_or_threads"],
            max_max_processes_and_or_threads=limits["max_max_processes_and_or_threads"],
            enable_per_process_and_thread_time_limit=False,
            allow_enable_per_process_and_thread_time_limit=False,
            enable_per_process_and_thread_memory_limit=False,
            allow_enable_per_process_and_thread_memory_limit=False,
            max_file_size=limits["max_file_size"],
            max_max_file_size=limits["max_max_file_size"],
            number_of_runs=limits["number_of_runs"],
            max_number_of_runs=limits["max_number_of_runs"],
            redirect_stderr_to_stdout=False,
            max_extract_size=settings.compat.judge0_max_extract_kb,
            enable_batched_submissions=True,
            max_submission_batch_size=settings.max_batch,
            submission_cache_duration=0.0,
            use_docs_as_homepage=False,
            allow_enable_network=False,
            enable_network=False,
        ).wire()
    )


@judge0.get("/about")
def about() -> Response:
    """Judge0's /about keys; the version is the API's (1.13.1), the rest names Sentinel."""
    return jsonify(
        shapes.Judge0About(
            version=VERSION,
            homepage=request.host_url.rstrip("/") + "/openapi.json",
            source_code="Sentinel (sentinel-runner), Judge0 CE 1.13.1 compatible API",
            maintainer="the operators of this Sentinel",
        ).wire()
    )


@judge0.get("/version")
def version() -> Response:
    """The bare version, as text."""
    return Response(VERSION, mimetype="text/plain")


@judge0.get("/system_info")
def system_info() -> Response:
    """What Judge0 shows of its host (lscpu's keys and memory), for this ingress host."""
    info: dict[str, str] = {
        "Architecture": platform.machine(),
        "CPU(s)": str(os.cpu_count() or 0),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    info["Model name"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                name, _, value = line.partition(":")
                if name in ("MemTotal", "SwapTotal"):
                    kb = int(value.split()[0])
                    info["Mem" if name == "MemTotal" else "Swap"] = f"{kb / 1024 / 1024:.1f}G"
    except OSError:
        pass
    return jsonify(info)


@judge0.get("/workers")
def workers() -> Response:
    """Judge0's one queue: size is the jobs waiting in every language's backlog, working the
    ones being delivered; Sentinel's executors scale per language (see GET /load)."""
    svc = services()
    prefix = svc.settings.eventing.key_prefix
    waiting = working = 0
    for trigger in svc.triggers:
        if trigger.serves():
            w, a = backlog(svc.redis, keys.trigger_stream(prefix, trigger.name))
            waiting += w
            working += a
    executors = len(set(svc.catalog.routes.values()))
    worker = shapes.Judge0Worker(
        queue=VERSION,
        size=waiting,
        available=executors,
        idle=executors if working == 0 else 0,
        working=working,
        paused=0,
        failed=0,
    )
    return jsonify([worker.wire()])
