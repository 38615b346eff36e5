"""Precompiled headers (C++'s bits/stdc++.h and iostream): built once per toolchain, read-only in
sandboxes.

Measured here (docs/languages.md): g++ -O2 on a hello that includes bits/stdc++.h takes ~2.0 s,
~0.3 s with the precompiled header. g++ uses a .gch only for a source's first include, and only
when it was built with the same flags (-O2, -std, macros); otherwise it silently reads the real
header, so a submission's own compilerOptions are always correct, just not faster.

The headers are built by the service (a trusted command on a system header, no user input), one
after the other, into <cache>/pch/<language>/<hash of version and commands>/, each via a temp
file and a rename, so a compile never sees half a .gch. The compile step binds that directory
read-only at INSIDE (not at its host path, which would name the work directory) and puts it
first on the include path (-I{pch_dir}).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import structlog

from functions import forks, identity
from functions.languages import Language, PrecompiledHeader

log = structlog.get_logger(__name__)
INSIDE = "/pch"  # where a compile step sees the directory
BUILD_TIMEOUT_S = 300
_BUILDING: set[Path] = set()
_LOCK = threading.Lock()


def directory(language: Language, cache_root: Path) -> Path | None:
    """Where the language's precompiled headers live (built or not); None when it has none."""
    headers = language.precompiled_headers
    if not headers:
        return None
    digest = hashlib.sha256(
        "\0".join(
            [language.version, *(f"{h.header}\0{h.name}\0{' '.join(h.command)}" for h in headers)]
        ).encode()
    ).hexdigest()[:16]
    return cache_root / "pch" / language.id / digest


def building() -> int:
    """How many languages' headers are being built right now (GET /health says it)."""
    with _LOCK:
        return len(_BUILDING)


def ready(language: Language, cache_root: Path, *, wait: bool = False) -> Path | None:
    """The directory when its headers are built; else start building them (in the background
    unless `wait`) and return None, so that compile runs without them."""
    where = directory(language, cache_root)
    if where is None or not identity.reachable(where.parent):
        return None  # (a root executor's private cache: its sandboxes could not bind it)
    if _built(language, where):
        return where
    with _LOCK:
        if where in _BUILDING and not wait:
            return None
        _BUILDING.add(where)
    if wait:
        _build(language, where)
        return where if _built(language, where) else None
    threading.Thread(target=_build, args=(language, where), daemon=True).start()
    return None


def _target(header: PrecompiledHeader, where: Path) -> Path:
    return where / (header.name + ".gch")


def _built(language: Language, where: Path) -> bool:
    return all(_target(h, where).exists() for h in language.precompiled_headers)


def _remove_abandoned(directory: Path) -> None:
    """Remove the temp files of builds that cannot still be running (older than a build may
    take): an executor stopped while building leaves its .tmp (100 MB for bits/stdc++.h) in a
    cache that outlives it (serve's data dir, a shared volume)."""
    now = time.time()
    for partial in directory.glob("*.tmp"):
        with contextlib.suppress(OSError):
            if now - partial.stat().st_mtime > BUILD_TIMEOUT_S:
                partial.unlink()


def _build(language: Language, where: Path) -> None:
    try:
        for header in language.precompiled_headers:
            _build_one(language, header, where)
    finally:
        with _LOCK:
            _BUILDING.discard(where)


def _build_one(language: Language, header: PrecompiledHeader, where: Path) -> None:
    try:
        target = _target(header, where)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(target.parent)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        os.close(handle)
        argv = [a.replace("{header}", str(header.header)).replace("{output}", temporary)
                for a in header.command]  # fmt: skip
        done = forks.run(argv, timeout=BUILD_TIMEOUT_S, env={"PATH": "/usr/bin:/bin"})
        if done.returncode != 0:
            log.error("precompiled header failed", language=language.id, stderr=done.stderr[-2000:])
            os.unlink(temporary)
            return
        os.chmod(temporary, 0o644)
        os.rename(temporary, target)
        for parent in [target.parent, *target.parent.parents]:
            if parent == where.parent:
                break
            os.chmod(parent, 0o755)
        log.info("precompiled header ready", language=language.id, path=str(target))
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.error("precompiled header failed", language=language.id, error=str(exc))
