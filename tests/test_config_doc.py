"""docs/configuration.md's tables are what scripts/config-doc.py makes of the settings classes,
and the manifests set only variables some settings class reads (a misspelt key in a ConfigMap
would otherwise be ignored in silence)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from eventing.settings_base import env_names

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "config-doc.py"
_spec = importlib.util.spec_from_file_location("config_doc", SCRIPT)
assert _spec is not None and _spec.loader is not None
config_doc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(config_doc)


def test_the_doc_is_what_the_settings_classes_say() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_table_is_in_the_doc() -> None:
    text = config_doc.DOC.read_text()
    assert set(re.findall(r"<!-- settings: (\w+) -->", text)) == set(config_doc.TABLES)


def test_the_manifests_set_only_variables_that_are_read() -> None:
    known = {
        name
        for classes in config_doc.TABLES.values()
        for settings in classes
        for field in settings.model_fields
        for name in env_names(settings, field)
    }
    # Read by the Redis StatefulSet's own command (config/base/201-redis-statefulset.yaml).
    known.add("REDIS_PASSWORD")
    named = {
        key
        for path in (REPO / "config").rglob("*.yaml")
        for key in re.findall(r"\b(?:SENTINEL|K|REDIS)_[A-Z_]+\b", path.read_text())
    }
    assert named - known == set()
