"""Settings of the one-machine supervisor (`python -m sentinel.serve`) and of the `sentinel`
command line, read from the environment as every service's are (eventing/settings_base.py).

The supervisor passes its own environment on to the services it starts, so their variables
(eventing/settings.py, ingress/settings.py, functions/settings.py) work under it unchanged;
here are only the ones it acts on itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from eventing.settings import DEFAULT_TRIGGERS
from eventing.settings_base import Settings
from sentinel.client import DEFAULT_URL

REPO = Path(__file__).resolve().parent.parent


class ServeSettings(Settings):
    """The supervisor: where the API listens, where its data lives, the embedded Redis."""

    host: str = Field(
        default="127.0.0.1",
        validation_alias="SENTINEL_HOST",
        description="the API's address (`--host`); every other service listens on 127.0.0.1",
    )
    port: int = Field(
        default=8080, validation_alias="SENTINEL_PORT", description="the API's port (`--port`)"
    )
    data_dir: Path = Field(
        default=REPO / "var",
        validation_alias="SENTINEL_DATA_DIR",
        description="embedded Redis data and logs (`--data-dir`)",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias="REDIS_URL",
        description="a Redis to use; unset, the supervisor starts Debian's `redis-server` with "
        "data in `<data dir>/redis`",
    )
    redis_maxmemory: str = Field(
        default="1gb",
        validation_alias="SENTINEL_REDIS_MAXMEMORY",
        description="the embedded Redis's `maxmemory`, with policy `noeviction`: when full, "
        "writes are refused (the API answers 503) and nothing queued or stored is evicted",
    )
    redis_appendfsync: Literal["always", "no", "everysec"] = Field(
        default="always",
        validation_alias="SENTINEL_REDIS_APPENDFSYNC",
        description="the embedded Redis's `appendfsync`. `always` (the default) fsyncs the "
        "append-only file before each answer: nothing accepted is lost, not even to a power "
        "loss, at an fsync (4 ms on this machine) on each of a job's writes. `no` writes it "
        "before each answer without fsync: a crash of any process loses nothing, a power loss "
        "up to the kernel's writeback delay. `everysec` is not safe here: while a slow fsync "
        "runs, Redis postpones even the write (up to 2 s) and answers, and tests/"
        "test_self_healing.py lost an accepted job to a SIGKILL of Redis that way",
    )
    triggers_path: Path = Field(
        default=DEFAULT_TRIGGERS,
        validation_alias="SENTINEL_TRIGGERS",
        description="the trigger file whose refs the supervisor points at its local services "
        "(`SENTINEL_SERVICE_URLS`)",
    )


class CliSettings(Settings):
    """The `sentinel` command (sentinel/cli.py): where Sentinel is, and the CI it reports to."""

    url: str = Field(
        default=DEFAULT_URL,
        validation_alias="SENTINEL_URL",
        description="Sentinel's base URL (`--server`)",
    )
    api_key: str | None = Field(
        default=None,
        validation_alias="SENTINEL_API_KEY",
        description="sent as the `X-API-Key` header (`--api-key`)",
    )
    github_actions: str = Field(
        default="",
        validation_alias="GITHUB_ACTIONS",
        description="`true` (set by GitHub Actions): failures are also printed as annotations",
    )
    github_step_summary: str | None = Field(
        default=None,
        validation_alias="GITHUB_STEP_SUMMARY",
        description="a file (set by GitHub Actions) the grade's summary is appended to",
    )
