"""Every environment read of ingress/, eventing/, functions/ and sentinel/ is a settings class's
(eventing/settings_base.py): this scan of their syntax trees fails on an `os.environ` or
`os.getenv` read anywhere else, so a new variable gets its name, default and description in a
settings class, and so in docs/configuration.md, instead of a read in passing."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ingress", "eventing", "functions", "sentinel")
SETTINGS_MODULES = {
    "eventing/settings_base.py",
    "eventing/settings.py",
    "eventing/serving_settings.py",
    "functions/settings.py",
    "ingress/settings.py",
    "sentinel/settings.py",
}
# Uses of the environment that are not reads of a setting, each with why.
ALLOWED = {
    # serve() hands its arguments to the gunicorn processes it execs (WorkerSettings): a write.
    ("eventing/wsgi.py", "os.environ.update"),
    # The supervisor passes its whole environment on to the services it starts, whose settings
    # classes then read it (sentinel/serve.py start_stack).
    ("sentinel/serve.py", "dict(os.environ)"),
}


def _uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, source) of each use of os.environ or os.getenv (or either imported bare)."""
    found: list[tuple[int, str]] = []
    parents: dict[ast.AST, ast.AST] = {
        child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [(node.lineno, f"from os import {a.name}") for a in node.names
                      if a.name in ("environ", "getenv", "environb", "getenvb")]  # fmt: skip
        is_os_attr = (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in ("environ", "getenv", "environb", "getenvb")
        )
        if is_os_attr:
            # The expression the use is part of: os.environ.get(...), dict(os.environ).
            use: ast.AST = node
            while True:
                up = parents.get(use)
                if (isinstance(up, ast.Attribute | ast.Subscript) and up.value is use) or (
                    isinstance(up, ast.Call) and up.func is use
                ):
                    use = up
                else:
                    break
            up = parents.get(use)
            shown = up if isinstance(up, ast.Call | ast.Compare) else use
            found.append((node.lineno, ast.unparse(shown)))
    return sorted(found)


def violations(root: Path = REPO) -> list[str]:
    """Each use of the environment outside the settings modules and ALLOWED."""
    bad = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if name in SETTINGS_MODULES:
                continue
            for line, use in _uses(ast.parse(path.read_text(), name)):
                if not any(name == where and use.startswith(what) for where, what in ALLOWED):
                    bad.append(f"{name}:{line}: {use}")
    return bad


def test_the_environment_is_read_only_by_settings_classes() -> None:
    assert violations() == [], (
        "read these variables through a settings class (eventing/settings_base.py), "
        "so docs/configuration.md lists them"
    )


def test_the_scan_finds_each_way_of_reading(tmp_path: Path) -> None:
    (tmp_path / "ingress").mkdir()
    for package in PACKAGES[1:]:
        (tmp_path / package).mkdir()
    (tmp_path / "ingress" / "x.py").write_text(
        "import os\nfrom os import getenv\n"
        "a = os.environ.get('A')\nb = os.environ['B']\nc = os.getenv('C')\nd = 'D' in os.environ\n"
    )
    found = violations(tmp_path)
    assert [v.split(":")[1] for v in found] == ["2", "3", "4", "5", "6"], found
