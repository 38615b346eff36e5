"""docs/configuration.md's tables, generated from the settings classes (eventing/settings_base.py):
`python scripts/config-doc.py` rewrites them, `--check` exits 1 when the file is stale
(tests/test_config_doc.py runs it). A script, not a module of sentinel/: it imports every
service's settings, the ingress's too, and nothing of the packages may import ingress.

Each table sits between `<!-- settings: NAME -->` and `<!-- end settings -->`; everything else in
the file is hand-written prose (why, how modes combine) and is kept as it is. A row is one
variable: its name, its default and the field's description, so a variable is described once,
where it is read.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from eventing.serving_settings import ServingSettings, WorkerSettings
from eventing.settings import (
    BrokerIngressSettings,
    CallbackSettings,
    DispatcherSettings,
    EventingSettings,
    SinkSettings,
)
from eventing.settings_base import Settings, env_names
from functions.settings import ExecutorSettings
from ingress.settings import CompatSettings, IngressSettings
from sentinel.settings import CliSettings, ServeSettings

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "configuration.md"

# Each table and the classes whose own fields it lists, in order (a subclass adds only the
# fields its base does not have).
TABLES: dict[str, Sequence[type[Settings]]] = {
    "ingress": (IngressSettings,),
    "callbacks": (CallbackSettings,),
    "eventing": (
        EventingSettings,
        SinkSettings,
        BrokerIngressSettings,
        DispatcherSettings,
        ServingSettings,
    ),
    "executor": (ExecutorSettings,),
    "serve": (ServeSettings,),
    "compat": (CompatSettings,),
    "cli": (CliSettings,),
    "internal": (WorkerSettings,),
}
BLOCK = re.compile(r"(<!-- settings: (\w+) -->\n)(.*?)(<!-- end settings -->)", re.DOTALL)


def _default(field: FieldInfo) -> str:
    """How a default reads in the table (a machine-dependent one says what it depends on)."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "doc_default" in extra:
        return str(extra["doc_default"])
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None or value in ("", frozenset(), (), {}):
        return "(none)"
    if isinstance(value, Path):
        try:
            return f"`{value.relative_to(REPO)}`"
        except ValueError:
            return f"`{value}`"
    if isinstance(value, str):
        return f"`{value}`"
    return f"{value:g}" if isinstance(value, float) else str(value)


def rows(classes: Sequence[type[Settings]]) -> list[tuple[str, str, str]]:
    """(variables, default, meaning) of each variable the classes read, once each."""
    seen: set[str] = set()
    found: list[tuple[str, str, str]] = []
    for settings in classes:
        inherited = {
            name for base in settings.__mro__[1:] for name in getattr(base, "model_fields", {})
        }
        for name, field in settings.model_fields.items():
            names = env_names(settings, name)
            if name in inherited or not names or names[0] in seen:
                continue
            seen.update(names)
            shown = f"`{names[0]}`" + "".join(f" (or `{other}`)" for other in names[1:])
            found.append((shown, _default(field), field.description or ""))
    return found


def table(classes: Sequence[type[Settings]]) -> str:
    """The markdown table of the classes' variables."""
    lines = ["| key | default | meaning |", "|---|---|---|"]
    lines += [f"| {key} | {default} | {meaning} |" for key, default, meaning in rows(classes)]
    return "\n".join(lines) + "\n"


def render(text: str) -> str:
    """`text` with every settings block regenerated (an unknown block name is an error)."""

    def block(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in TABLES:
            raise KeyError(f"docs/configuration.md names an unknown settings table {name!r}")
        return match.group(1) + table(TABLES[name]) + match.group(4)

    return BLOCK.sub(block, text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite docs/configuration.md's tables, or with --check say whether they are current."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    current = DOC.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("docs/configuration.md is stale: run python scripts/config-doc.py")
            return 1
        return 0
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
