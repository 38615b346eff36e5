"""Checking what a client sends, at the edge: JSON shape, the contract's schema, and our limits.

Pydantic checks types and required fields (the contract, shared with the executors); this module
adds what only the public edge cares about: sizes (code, stdin, expected output, test-case
count, all configurable), that the language is offered, and that a callback URL is acceptable.
Every failure is an ApiError(400) naming the field in the wire's camelCase dotted form, e.g.
`testCases.3.expected`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from eventing import contract, strictjson
from eventing.callbacks import check_destination
from ingress.catalog import LanguageCatalog
from ingress.errors import ApiError
from ingress.settings import IngressSettings


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400."""
    try:
        body = strictjson.loads(raw or b"null")
    except strictjson.JSONRefused as exc:
        raise ApiError(400, f"the body must be JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def field_error(exc: ValidationError, prefix: str = "") -> ApiError:
    """A pydantic failure as a 400 naming the first field, with every problem in `details`."""
    details = [
        {"field": prefix + ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]
    first = details[0]
    return ApiError(
        400, f"{first['field']}: {first['message']}", field=first["field"], details=details
    )


def _too_big(field: str, limit: int, what: str = "bytes") -> ApiError:
    return ApiError(400, f"{field}: at most {limit} {what} allowed", field=field, limit=limit)


def _within_maxima(
    request: contract.SubmissionRequest, maxima: dict[str, int], prefix: str
) -> None:
    """A limit above the executor's maximum is a 400 naming the maximum (never a clamp)."""
    asked = request.limits.wire()
    for key, maximum in maxima.items():
        value = asked.get(key)
        if isinstance(value, int) and value > maximum:
            field = f"{prefix}limits.{key}"
            raise ApiError(400, f"{field}: at most {maximum} allowed", field=field, limit=maximum)


def submission(
    body: Any, settings: IngressSettings, catalog: LanguageCatalog, prefix: str = ""
) -> tuple[contract.SubmissionRequest, str]:
    """Validate one submission; the request and the resolved language id, or an ApiError."""
    if not isinstance(body, dict):
        where = prefix.rstrip(".") or "body"
        raise ApiError(400, f"{where}: must be a JSON object", field=where)
    try:
        request = contract.SubmissionRequest.model_validate(body)
    except ValidationError as exc:
        raise field_error(exc, prefix) from None
    sources = [request.code or ""] + [f.content for f in request.files or []]
    if sum(len(text.encode()) for text in sources) > settings.max_code_bytes:
        raise _too_big(prefix + ("code" if request.code else "files"), settings.max_code_bytes)
    if len(request.input.encode()) > settings.max_input_bytes:
        raise _too_big(prefix + "input", settings.max_input_bytes)
    cases = request.test_cases or []
    if len(cases) > settings.max_test_cases:
        raise _too_big(prefix + "testCases", settings.max_test_cases, "test cases")
    for index, case in enumerate(cases):
        if len(case.input.encode()) > settings.max_input_bytes:
            raise _too_big(f"{prefix}testCases.{index}.input", settings.max_input_bytes)
        if case.expected is not None and len(case.expected.encode()) > settings.max_expected_bytes:
            raise _too_big(f"{prefix}testCases.{index}.expected", settings.max_expected_bytes)
    language = catalog.resolve(request.language)
    if language is None:
        raise ApiError(
            400,
            f"language {request.language!r} is not supported",
            field=prefix + "language",
            supported=catalog.names(),
        )
    missing = catalog.unavailable(language)
    if missing:
        raise ApiError(400, missing, field=prefix + "language")
    limits = catalog.limits(language)
    _within_maxima(request, limits.maxima(), prefix)
    worst_ms = contract.worst_case_ms(request, limits)
    if worst_ms > settings.max_job_s * 1000:
        raise ApiError(
            400,
            f"limits: this job could run {worst_ms // 1000} s (a compile, then every run of "
            f"every test case at its wall limit); at most {settings.max_job_s} s allowed",
            field=prefix + "limits.wallTimeMs",
            limit=settings.max_job_s,
        )
    if request.callback_url is not None:
        if not settings.callbacks.secret:
            raise ApiError(
                400,
                "callbackUrl: callbacks are not enabled here (no SENTINEL_CALLBACK_SECRET)",
                field=prefix + "callbackUrl",
            )
        refusal = check_destination(request.callback_url, settings.callbacks)
        if refusal:
            raise ApiError(400, refusal, field=prefix + "callbackUrl")
    return request, language
