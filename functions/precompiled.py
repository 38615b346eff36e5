"""Precompiled headers (C++'s bits/stdc++.h): built once per toolchain, read-only in sandboxes.

Measured here (docs/languages.md): g++ -O2 on a hello that includes bits/stdc++.h takes ~2.0 s,
~0.3 s with the precompiled header. g++ uses a .gch only when it was built with the same flags
(-O2, -std, macros); otherwise it silently reads the real header, so a submission's own
compilerOptions are always correct, just not faster.

The header is built by the service (a trusted command on a system header, no user input) into
<cache>/pch/<language>/<hash of version and command>/, via a temp file and a rename, so a compile
never sees half a .gch. The compile step binds that directory read-only at INSIDE (not at its
host path, which would name the work directory) and puts it first on the include path
(-I{pch_dir}).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
from pathlib import Path

import structlog

from functions import identity
from functions.languages import Language

log = structlog.get_logger(__name__)
INSIDE = "/pch"  # where a compile step sees the directory
_BUILDING: set[Path] = set()
_LOCK = threading.Lock()


def directory(language: Language, cache_root: Path) -> Path | None:
    """Where the language's precompiled header lives (built or not); None when it has none."""
    header = language.precompiled_header()
    command = language.precompiled.get("command")
    if header is None or not isinstance(command, list):
        return None
    digest = hashlib.sha256(
        "\0".join([language.version, str(header), *map(str, command)]).encode()
    ).hexdigest()[:16]
    return cache_root / "pch" / language.id / digest


def ready(language: Language, cache_root: Path, *, wait: bool = False) -> Path | None:
    """The directory when its header is built; else start building it (in the background
    unless `wait`) and return None, so that compile runs without it."""
    where = directory(language, cache_root)
    if where is None or not identity.reachable(where.parent):
        return None  # (a root executor's private cache: its sandboxes could not bind it)
    if _target(language, where).exists():
        return where
    with _LOCK:
        if where in _BUILDING and not wait:
            return None
        _BUILDING.add(where)
    if wait:
        _build(language, where)
        return where if _target(language, where).exists() else None
    threading.Thread(target=_build, args=(language, where), daemon=True).start()
    return None


def _target(language: Language, where: Path) -> Path:
    return where / (str(language.precompiled["name"]) + ".gch")


def _build(language: Language, where: Path) -> None:
    try:
        target = _target(language, where)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        header = language.precompiled_header()
        command = language.precompiled["command"]
        assert header is not None and isinstance(command, list)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        os.close(handle)
        argv = [
            str(a).replace("{header}", str(header)).replace("{output}", temporary) for a in command
        ]
        done = subprocess.run(
            argv, capture_output=True, timeout=300, env={"PATH": "/usr/bin:/bin"}, check=False
        )
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
    finally:
        with _LOCK:
            _BUILDING.discard(where)
