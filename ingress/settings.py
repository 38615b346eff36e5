"""Settings of the ingress, read from the environment. Defaults documented here only.

docs/configuration.md lists these keys; each field's comment says why its default is what it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from eventing.callbacks import CallbackSettings
from eventing.settings import EventingSettings


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _str(name: str, default: str) -> str:
    raw = os.environ.get(name)
    return raw if raw is not None else default


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


@dataclass(frozen=True)
class CompatSettings:
    """The Judge0 and Piston drop-in APIs (ingress/judge0, ingress/piston; docs/migrating.md)."""

    # Judge0's AUTHN_HEADER/AUTHN_TOKEN: when tokens are set, every /judge0 call needs one.
    judge0_authn_header: str = "X-Auth-Token"
    judge0_authn_tokens: frozenset[str] = frozenset()
    # Judge0's AUTHZ_HEADER/AUTHZ_TOKEN: when set, /judge0/workers and /system_info need it.
    judge0_authz_header: str = "X-Auth-User"
    judge0_authz_tokens: frozenset[str] = frozenset()
    # additional_files (a base64 zip): at most this many files and KB once extracted, so a
    # zip bomb is refused before it is inflated (Judge0's MAX_EXTRACT_SIZE is 10240 KB; ours
    # is bounded by what a submission may carry anyway).
    judge0_max_extract_kb: int = 256
    judge0_max_extract_files: int = 64
    # Piston answers /api/v2/execute synchronously: seconds to wait for the result before 504.
    piston_wait_s: float = 60.0

    @classmethod
    def from_env(cls) -> CompatSettings:
        """SENTINEL_JUDGE0_* and SENTINEL_PISTON_* keys."""

        def tokens(name: str) -> frozenset[str]:
            return frozenset(t.strip() for t in _str(name, "").split(",") if t.strip())

        return cls(
            judge0_authn_header=_str("SENTINEL_JUDGE0_AUTHN_HEADER", cls.judge0_authn_header),
            judge0_authn_tokens=tokens("SENTINEL_JUDGE0_AUTHN_TOKEN"),
            judge0_authz_header=_str("SENTINEL_JUDGE0_AUTHZ_HEADER", cls.judge0_authz_header),
            judge0_authz_tokens=tokens("SENTINEL_JUDGE0_AUTHZ_TOKEN"),
            judge0_max_extract_kb=_int("SENTINEL_JUDGE0_MAX_EXTRACT_KB", cls.judge0_max_extract_kb),
            judge0_max_extract_files=_int(
                "SENTINEL_JUDGE0_MAX_EXTRACT_FILES", cls.judge0_max_extract_files
            ),
            piston_wait_s=_float("SENTINEL_PISTON_WAIT_S", cls.piston_wait_s),
        )


@dataclass(frozen=True)
class IngressSettings:
    """The API's own knobs, plus the eventing settings it publishes with."""

    eventing: EventingSettings = field(default_factory=EventingSettings)
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)
    compat: CompatSettings = field(default_factory=CompatSettings)
    port: int = 8080
    # Whole request body; larger bodies get 413 before any parsing.
    max_body_bytes: int = 1024 * 1024
    # Per field of a submission (UTF-8 bytes); a breach is a 400 naming the field.
    max_code_bytes: int = 256 * 1024
    max_test_cases: int = 100
    max_input_bytes: int = 256 * 1024
    max_expected_bytes: int = 256 * 1024
    # Submissions per POST /api/execute/batch (all queued in one Redis transaction).
    max_batch: int = 20
    # A job's worst case (compile + every run at its wall limit, eventing/contract.py
    # worst_case_ms) may not exceed this: it is also how long a delivery may wait.
    max_job_s: int = 900
    # ?wait=true: seconds a request may hold a worker thread waiting for its result.
    wait_default_s: float = 10.0
    wait_max_s: float = 30.0
    # Per client (its API key when keys are on, else its IP), moving window, `limits` notation
    # ("60/minute", "10/second;500/hour"). Empty disables. Submissions count once per
    # submission (a batch of 5 costs 5). The defaults let one judge backend or CI run send a
    # burst of 1,200 at once (a few hundred tests) and 20,000 an hour all day (480,000 a day,
    # more than 2 cores run), while a flood is refused past that; the backlog cap (1000 per
    # language) bounds what is queued meanwhile. Reads: polling every job 10 times a second
    # for 20 jobs at once (the Judge0 SDK's wait loop) stays within 12,000 a minute.
    rate_limit: str = "1200/minute;20000/hour"
    read_rate_limit: str = "12000/minute"
    # Proxies in front of us whose X-Forwarded-For we believe (werkzeug ProxyFix x_for).
    # 0: the socket's peer is the client and X-Forwarded-For is ignored (it can be forged).
    trusted_proxy_hops: int = 0
    # A language whose backlog (XLEN of its trigger stream) reaches its cap gets 503s.
    backlog_cap: int | None = 1000
    backlog_caps: dict[str, int] = field(default_factory=dict)
    # Seconds advertised in Retry-After when the backlog is full.
    backlog_retry_after_s: int = 5
    # X-API-Key values accepted; empty: no key needed (one machine, trusted network).
    api_keys: frozenset[str] = frozenset()
    # Seconds a fetched language list is trusted before asking the executors again.
    languages_ttl_s: int = 60
    # Connections one client (socket peer) may hold open at once, per ingress worker process
    # (eventing/gworker.py); one more is answered 429. None: 64 when the peer is the client
    # (no trusted proxy), no bound behind proxies (every connection then comes from them).
    max_connections_per_client: int | None = None

    def connection_bound(self) -> int:
        """The per-client connection bound in force (0: none)."""
        if self.max_connections_per_client is not None:
            return self.max_connections_per_client
        return 64 if self.trusted_proxy_hops == 0 else 0

    def cap_for(self, language: str) -> int | None:
        """The backlog cap of `language` (None: unbounded)."""
        return self.backlog_caps.get(language, self.backlog_cap)

    @classmethod
    def from_env(cls) -> IngressSettings:
        """SENTINEL_* keys (see docs/configuration.md), plus eventing's and callbacks' keys."""
        cap, caps = _caps(_str("SENTINEL_BACKLOG_CAP", ""))
        keys = frozenset(k.strip() for k in _str("SENTINEL_API_KEYS", "").split(",") if k.strip())
        return cls(
            eventing=EventingSettings.from_env(),
            callbacks=CallbackSettings.from_env(),
            compat=CompatSettings.from_env(),
            port=_int("SENTINEL_PORT", _int("PORT", cls.port)),
            max_body_bytes=_int("SENTINEL_MAX_BODY_BYTES", cls.max_body_bytes),
            max_code_bytes=_int("SENTINEL_MAX_CODE_BYTES", cls.max_code_bytes),
            max_test_cases=_int("SENTINEL_MAX_TEST_CASES", cls.max_test_cases),
            max_input_bytes=_int("SENTINEL_MAX_INPUT_BYTES", cls.max_input_bytes),
            max_expected_bytes=_int("SENTINEL_MAX_EXPECTED_BYTES", cls.max_expected_bytes),
            max_batch=_int("SENTINEL_MAX_BATCH", cls.max_batch),
            max_job_s=_int("SENTINEL_MAX_JOB_S", cls.max_job_s),
            wait_default_s=_float("SENTINEL_WAIT_DEFAULT_S", cls.wait_default_s),
            wait_max_s=_float("SENTINEL_WAIT_MAX_S", cls.wait_max_s),
            rate_limit=_str("SENTINEL_RATE_LIMIT", cls.rate_limit).strip(),
            read_rate_limit=_str("SENTINEL_READ_RATE_LIMIT", cls.read_rate_limit).strip(),
            trusted_proxy_hops=_int("SENTINEL_TRUSTED_PROXY_HOPS", cls.trusted_proxy_hops),
            backlog_cap=cap if cap is not None else cls.backlog_cap,
            backlog_caps=caps,
            backlog_retry_after_s=_int("SENTINEL_BACKLOG_RETRY_AFTER_S", cls.backlog_retry_after_s),
            api_keys=keys,
            languages_ttl_s=_int("SENTINEL_LANGUAGES_TTL_S", cls.languages_ttl_s),
            max_connections_per_client=(
                _int("SENTINEL_MAX_CONNECTIONS_PER_CLIENT", 0)
                if _str("SENTINEL_MAX_CONNECTIONS_PER_CLIENT", "")
                else None
            ),
        )
