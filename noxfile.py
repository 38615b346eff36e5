"""The sessions a person runs: serve (Sentinel on this machine), tests (lint, types, pytest),
lint alone, and bench. `./nox.sh` installs nox first when it is missing."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests"]
nox.options.default_venv_backend = "venv"
PYTHON = "3.11"
# The container tests' Debian packages (scripts/podman-images.sh): podman with runc, not crun;
# catatonit for a pod's infra container (podman builds its pause image from it: without it,
# and with no pause image in the local storage yet, `podman pod create` fails).
CONTAINER_PACKAGES = (
    "podman", "runc", "debootstrap", "uidmap", "slirp4netns", "fuse-overlayfs", "catatonit",
)  # fmt: skip


def _system_packages(session: nox.Session) -> None:
    session.run("bash", "scripts/ensure-system-packages.sh", external=True)


@nox.session(python=PYTHON)
def serve(session: nox.Session) -> None:
    """Bring Sentinel up on this machine (embedded Redis unless REDIS_URL); Ctrl-C stops it."""
    _system_packages(session)
    session.install("-e", ".")
    # Give the supervisor time to stop its children gracefully on Ctrl-C.
    session.run(
        "python",
        "-m",
        "sentinel.serve",
        *session.posargs,
        interrupt_timeout=30,
        terminate_timeout=10,
    )


def _lint(session: nox.Session) -> None:
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "ingress", "eventing", "functions", "sentinel", "noxfile.py")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format), mypy (strict on ingress/, eventing/, functions/) and the import
    contracts (lint-imports, pyproject.toml [tool.importlinter])."""
    session.install("-e", ".[lint]")
    _lint(session)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole suite, slow tests included, after lint and types. As root, also what
    tests/test_pod.py builds and runs images with (podman, runc, debootstrap)."""
    if os.geteuid() == 0:
        session.run("bash", "scripts/ensure-system-packages.sh", *CONTAINER_PACKAGES, external=True)
    else:
        _system_packages(session)
    session.install("-e", ".[test,lint]")
    _lint(session)
    session.run("pytest", *session.posargs)


def bench_sandbox(session: nox.Session) -> None:
    """Sandbox overhead per language: bare vs sandboxed hello world (docs/bench/sandbox.json),
    and the sandbox before and after it stopped running as host root (sandbox_ab.json)."""
    session.run("python", "-m", "benchmarks.sandbox")
    session.run("python", "-m", "benchmarks.sandbox_ab")


def bench_broker(session: nox.Session) -> None:
    """The broker alone: throughput and latency per hop (docs/bench/broker.json)."""
    session.run("python", "benchmarks/broker.py", "--out", "docs/bench/broker.json")


def bench_service(session: nox.Session) -> None:
    """The whole local service against the bare sandbox (docs/bench/service.json)."""
    session.run("python", "-m", "benchmarks.service")


def bench_languages(session: nox.Session) -> None:
    """Per language: job time with the compiler vs with the compile cache, and hello world's
    sandboxed run (docs/bench/languages.json)."""
    session.run("python", "-m", "benchmarks.languages")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks on this machine; results in docs/bench/*.json, summarised in
    docs/benchmarks.md. `nox -s bench -- sandbox` (or broker, languages, service) runs one."""
    # wrk: a load generator in C for the ingest measurement (benchmarks/service.py).
    session.run("bash", "scripts/ensure-system-packages.sh", "wrk", external=True)
    session.install("-e", ".")
    wanted = set(session.posargs) or {"sandbox", "broker", "http", "redis", "languages", "service"}
    if "sandbox" in wanted:
        bench_sandbox(session)
    if "broker" in wanted:
        bench_broker(session)
    if "http" in wanted:
        session.run("python", "-m", "benchmarks.http_clients")  # the dispatcher's HTTP client
    if "redis" in wanted:
        session.run("python", "-m", "benchmarks.redis_parser")  # hiredis or not
    if "languages" in wanted:
        bench_languages(session)
    if "service" in wanted:
        bench_service(session)
