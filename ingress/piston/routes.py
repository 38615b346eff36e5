"""The Piston v2 endpoints (Blueprint `piston`): GET /api/v2/runtimes, POST /api/v2/execute.

Piston answers execute synchronously, so the job is queued as any other and waited for (no
polling: ingress/waiting.py) up to SENTINEL_PISTON_WAIT_S. Errors are Piston's
{"message": ...}, including the rate limit, API key and backlog answers of the app.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from eventing import keys, strictjson
from ingress import submissions, validation, waiting
from ingress.errors import ApiError, respond
from ingress.piston import runtimes, shapes, translate
from ingress.services import services, spend

piston = Blueprint("piston", __name__, url_prefix="/api/v2")


@piston.errorhandler(translate.PistonError)
def piston_error(exc: translate.PistonError) -> tuple[Response, int]:
    return jsonify(shapes.PistonMessage(message=exc.message).wire()), exc.status


@piston.errorhandler(ApiError)
def api_error(exc: ApiError) -> Response:
    return respond(exc, shapes.PistonMessage(message=exc.message).wire())


@piston.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> tuple[Response, int]:
    return jsonify(message=exc.description), exc.code or 500


@piston.get("/runtimes")
def runtimes_list() -> Response:
    """[{language, version, aliases, runtime?}] for every language Sentinel serves."""
    return jsonify([runtime.wire() for runtime in runtimes.runtimes(services().catalog)])


@piston.post("/execute")
def execute() -> Response:
    """Run a job and answer Piston's {language, version, run, compile?}."""
    svc = services()
    spend("submit")
    try:
        body: Any = strictjson.loads(request.get_data() or b"null")
    except strictjson.JSONRefused as exc:
        raise translate.PistonError(f"the body must be JSON: {exc}") from None
    if not isinstance(body, dict):
        raise translate.PistonError("the body must be a JSON object")
    language = body.get("language")
    version = body.get("version")
    if not isinstance(language, str):
        raise translate.PistonError("language is required as a string")
    if not isinstance(version, str):
        raise translate.PistonError("version is required as a string")
    runtime = runtimes.find(svc.catalog, language, version)
    if runtime is None:
        raise translate.PistonError(f"{language}-{version} runtime is unknown")
    parsed = translate.parse(body, runtime, svc.catalog.limits(runtime.sentinel))
    try:
        checked, resolved = validation.submission(parsed.wire(), svc.settings, svc.catalog)
    except ApiError as exc:
        raise translate.PistonError(exc.message, exc.status) from None
    if not svc.waiters.acquire():  # before queuing: a refused request leaves no job behind
        raise translate.PistonError("too many requests are waiting for results; retry", 503)
    try:
        job_id = str(uuid.uuid4())
        done = keys.job_done(svc.settings.eventing.key_prefix, job_id)
        with svc.listener.watching(done) as watch:  # before queuing: ingress/waiting.py
            job = submissions.submit_one(
                svc, checked, resolved, g.request_id, "/sentinel/ingress/piston", job_id=job_id
            )
            record = waiting.wait_for_finish(
                svc.listener, svc.store, job.id, svc.settings.compat.piston_wait_s, watch
            )
    finally:
        svc.waiters.release()
    if record is None:
        raise translate.PistonError(
            f"the job did not finish in time (job {job.id}: GET /job/{job.id} has it later)", 504
        )
    return jsonify(translate.render(record, runtime))
