"""GET /health's `headers_building` (functions/precompiled.py `building`): what a benchmark or
an operator waits on before C++ compiles get their precompiled headers."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

from functions import precompiled
from functions.languages import Language, load_registry


def _slow_header_language(tmp_path: Path) -> Language:
    """C++ with one header whose build takes half a second (a shell, not g++: the count is what
    is under test)."""
    header = tmp_path / "slow.h"
    header.write_text("")
    build = ["/bin/sh", "-c", "sleep 0.5; : > {output}"]
    cpp = load_registry()["cpp"]
    return dataclasses.replace(
        cpp, precompiled=({"header": str(header), "name": "slow.h", "command": build},)
    )


def test_a_header_being_built_is_counted_until_it_is_ready(tmp_path: Path) -> None:
    language = _slow_header_language(tmp_path)
    # a cache the sandbox's user could bind (as a root executor's must be: identity.reachable)
    cache = Path(tempfile.mkdtemp(prefix="pch-building-"))
    try:
        cache.chmod(0o755)
        before = precompiled.building()
        assert precompiled.ready(language, cache) is None  # started in the background
        assert precompiled.building() == before + 1
        deadline = time.monotonic() + 30
        while precompiled.building() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert precompiled.building() == before
        assert precompiled.ready(language, cache) is not None  # built: nothing more to build
        assert precompiled.building() == before
    finally:
        shutil.rmtree(cache, ignore_errors=True)
