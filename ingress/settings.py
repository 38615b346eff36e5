"""Settings of the ingress, read from the environment (eventing/settings_base.py says how):
every variable of the API, its default and its meaning, here and nowhere else.

docs/configuration.md is generated from these classes (`python scripts/config-doc.py`).
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import AliasChoices, Field, field_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import NoDecode

from eventing.settings import CallbackSettings, EventingSettings
from eventing.settings_base import Settings


def _tokens(value: Any) -> Any:
    """A comma list as a set of its non-empty items (keys, tokens)."""
    if isinstance(value, str):
        return frozenset(item.strip() for item in value.split(",") if item.strip())
    return value


def _caps(raw: str) -> tuple[int | None, dict[str, int]]:
    """Parse SENTINEL_BACKLOG_CAP: `1000` (every language) and/or `python=200,java=50`."""
    default: int | None = None
    per_language: dict[str, int] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        if "=" in item:
            name, value = item.split("=", 1)
            per_language[name.strip().lower()] = int(value)
        else:
            default = int(item)
    return default, per_language


class CompatSettings(Settings):
    """The Judge0 and Piston drop-in APIs (ingress/judge0, ingress/piston; docs/migrating.md)."""

    judge0_authn_header: str = Field(
        default="X-Auth-Token",
        validation_alias="SENTINEL_JUDGE0_AUTHN_HEADER",
        description="the header carrying the token (Judge0's `AUTHN_HEADER`)",
    )
    judge0_authn_tokens: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        validation_alias="SENTINEL_JUDGE0_AUTHN_TOKEN",
        description="comma-separated tokens (Judge0's `AUTHN_TOKEN`); when set, every `/judge0` "
        "call needs one",
    )
    judge0_authz_header: str = Field(
        default="X-Auth-User",
        validation_alias="SENTINEL_JUDGE0_AUTHZ_HEADER",
        description="the header carrying it (Judge0's `AUTHZ_HEADER`)",
    )
    judge0_authz_tokens: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        validation_alias="SENTINEL_JUDGE0_AUTHZ_TOKEN",
        description="tokens for `/judge0/workers` and `/judge0/system_info` (Judge0's "
        "`AUTHZ_TOKEN`)",
    )
    # A zip bomb is refused before it is inflated (Judge0's MAX_EXTRACT_SIZE is 10240 KB; ours
    # is bounded by what a submission may carry anyway).
    judge0_max_extract_kb: int = Field(
        default=256,
        validation_alias="SENTINEL_JUDGE0_MAX_EXTRACT_KB",
        ge=0,
        description="`additional_files`: KB once unzipped (more: 422)",
    )
    judge0_max_extract_files: int = Field(
        default=64,
        validation_alias="SENTINEL_JUDGE0_MAX_EXTRACT_FILES",
        ge=0,
        description="`additional_files`: files in the zip",
    )
    piston_wait_s: float = Field(
        default=60.0,
        validation_alias="SENTINEL_PISTON_WAIT_S",
        gt=0,
        description="seconds `POST /api/v2/execute` waits for its result (then 504)",
    )

    _split_tokens = field_validator("judge0_authn_tokens", "judge0_authz_tokens", mode="before")(
        _tokens
    )


class IngressSettings(Settings):
    """The API's own knobs, plus the eventing, callbacks and compatibility settings."""

    # Rate limits: empty disables (it is not "unset").
    blank_allowed = frozenset({"rate_limit", "read_rate_limit"})

    eventing: EventingSettings = Field(default_factory=lambda: EventingSettings())
    callbacks: CallbackSettings = Field(default_factory=lambda: CallbackSettings())
    compat: CompatSettings = Field(default_factory=lambda: CompatSettings())
    port: int = Field(
        default=8080,
        validation_alias=AliasChoices("SENTINEL_PORT", "PORT"),
        description="listen port",
    )
    workers: int = Field(
        default=2,
        validation_alias="SENTINEL_INGRESS_WORKERS",
        ge=1,
        description="gunicorn processes",
    )
    threads: int = Field(
        default=32,
        validation_alias="SENTINEL_INGRESS_THREADS",
        ge=1,
        description="gunicorn threads of each process (a `?wait=true` request holds a thread; "
        "at most three quarters of them wait at once, 24 by default: ingress/app.py)",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        validation_alias="SENTINEL_MAX_BODY_BYTES",
        ge=0,
        description="larger bodies: 413, before any parsing",
    )
    max_code_bytes: int = Field(
        default=256 * 1024,
        validation_alias="SENTINEL_MAX_CODE_BYTES",
        ge=0,
        description="`code` size (UTF-8 bytes); a breach is a 400 naming the field",
    )
    max_test_cases: int = Field(
        default=100,
        validation_alias="SENTINEL_MAX_TEST_CASES",
        ge=0,
        description="test cases per submission",
    )
    max_input_bytes: int = Field(
        default=256 * 1024,
        validation_alias="SENTINEL_MAX_INPUT_BYTES",
        ge=0,
        description="`input` and each test case's `input`",
    )
    max_expected_bytes: int = Field(
        default=256 * 1024,
        validation_alias="SENTINEL_MAX_EXPECTED_BYTES",
        ge=0,
        description="each test case's `expected`",
    )
    max_batch: int = Field(
        default=20,
        validation_alias="SENTINEL_MAX_BATCH",
        ge=1,
        description="submissions per `POST /api/execute/batch` (all queued in one transaction)",
    )
    max_job_s: int = Field(
        default=900,
        validation_alias="SENTINEL_MAX_JOB_S",
        ge=1,
        description="a job whose worst case (a compile, then every run of every case at its wall "
        "limit; `eventing/contract.py` `worst_case_ms`) is longer: 400 naming the maximum. The "
        "dispatcher waits that worst case (plus 30 s) for an executor when it is longer than "
        "the trigger's `timeout`",
    )
    wait_default_s: float = Field(
        default=10.0,
        validation_alias="SENTINEL_WAIT_DEFAULT_S",
        gt=0,
        description="`?wait=true` default `timeout` (seconds a request holds a thread)",
    )
    wait_max_s: float = Field(
        default=30.0,
        validation_alias="SENTINEL_WAIT_MAX_S",
        gt=0,
        description="`?wait=true` maximum",
    )
    # The defaults let one judge backend or CI run send a burst of 1,200 at once (a few hundred
    # tests) and 20,000 an hour all day (480,000 a day, more than 2 cores run), while a flood is
    # refused past that; the backlog cap (1000 per language) bounds what is queued meanwhile.
    # Reads: polling every job 10 times a second for 20 jobs at once (the Judge0 SDK's wait
    # loop) stays within 12,000 a minute.
    rate_limit: str = Field(
        default="1200/minute;20000/hour",
        validation_alias="SENTINEL_RATE_LIMIT",
        description="submissions per client: its API key when keys are on, else its IP (moving "
        "window, `limits` notation, `;` combines; a batch of 5 costs 5); empty disables. Why: "
        'docs/api.md, "Rate limits"',
    )
    read_rate_limit: str = Field(
        default="12000/minute",
        validation_alias="SENTINEL_READ_RATE_LIMIT",
        description="reads (job, status, languages) per client; empty disables",
    )
    max_connections_per_client: int | None = Field(
        default=None,
        validation_alias="SENTINEL_MAX_CONNECTIONS_PER_CLIENT",
        ge=0,
        json_schema_extra={"doc_default": "64 (none behind trusted proxies)"},
        description="connections one peer address may hold open at once, per ingress process "
        "(eventing/gworker.py); one more gets a JSON 429. Unset: 64, or no bound when "
        "`SENTINEL_TRUSTED_PROXY_HOPS` > 0 (every connection then comes from the proxies)",
    )
    trusted_proxy_hops: int = Field(
        default=0,
        validation_alias="SENTINEL_TRUSTED_PROXY_HOPS",
        ge=0,
        description="proxies whose `X-Forwarded-For` entries are believed (werkzeug ProxyFix); "
        "0: the socket's peer is the client",
    )
    # One variable, two fields: a bare number is the default cap, `name=n` items per language.
    backlog_cap: Annotated[int | None, NoDecode] = Field(
        default=1000,
        validation_alias="SENTINEL_BACKLOG_CAP",
        description="per-language backlog cap (its trigger stream's length; more: 503): `1000`, "
        "or `python=500,java=50` (with a bare number as the default)",
    )
    backlog_caps: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict, validation_alias="SENTINEL_BACKLOG_CAP"
    )
    backlog_retry_after_s: int = Field(
        default=5,
        validation_alias="SENTINEL_BACKLOG_RETRY_AFTER_S",
        ge=0,
        description="`Retry-After` on a full backlog",
    )
    api_keys: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        validation_alias="SENTINEL_API_KEYS",
        description="comma-separated keys; when set, `X-API-Key` is required",
    )
    languages_ttl_s: int = Field(
        default=60,
        validation_alias="SENTINEL_LANGUAGES_TTL_S",
        ge=0,
        description="how long the executors' language list is cached",
    )
    supervisor_state: str | None = Field(
        default=None,
        validation_alias="SENTINEL_SUPERVISOR_STATE",
        description="the file where the one-machine supervisor writes its children's restarts, "
        "shown in `/health` (set by sentinel/serve.py)",
    )

    _split_keys = field_validator("api_keys", mode="before")(_tokens)

    @field_validator("rate_limit", "read_rate_limit", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("backlog_cap", mode="before")
    @classmethod
    def _default_cap(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        cap, _ = _caps(value)
        if cap is None:
            raise PydanticUseDefault()
        return cap

    @field_validator("backlog_caps", mode="before")
    @classmethod
    def _language_caps(cls, value: Any) -> Any:
        return _caps(value)[1] if isinstance(value, str) else value

    def connection_bound(self) -> int:
        """The per-client connection bound in force (0: none)."""
        if self.max_connections_per_client is not None:
            return self.max_connections_per_client
        return 64 if self.trusted_proxy_hops == 0 else 0

    def cap_for(self, language: str) -> int | None:
        """The backlog cap of `language` (None: unbounded)."""
        return self.backlog_caps.get(language, self.backlog_cap)

    @classmethod
    def from_env(cls, **given: Any) -> Self:
        """The ingress's variables, plus eventing's, callbacks' and the compatibility APIs'."""
        return super().from_env(
            eventing=EventingSettings.from_env(),
            callbacks=CallbackSettings.from_env(),
            compat=CompatSettings.from_env(),
            **given,
        )
