"""The language registry: read functions/languages.toml into plain data.

The registry is data, not code, so adding a language never touches the sandbox or the runner.
A language whose toolchain is not installed is left out of the served set (and said so).
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

REGISTRY_PATH = Path(__file__).with_name("languages.toml")


@dataclass(frozen=True)
class Language:
    """How to compile and run one language."""

    id: str
    display_name: str
    description: str
    source_file: str
    run: tuple[str, ...]
    version_command: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    ro_paths: tuple[str, ...] = ()
    example: str = ""
    limits: Mapping[str, int] = field(default_factory=dict)
    heap_percent: int = 100
    address_space_limit: bool = True
    # Without RLIMIT_AS: what the runtime needs beyond the run's limit in RLIMIT_DATA to start
    # (thread stacks, code caches; functions/rlimits.py), measured per language in the registry.
    data_overhead_mb: int = 0
    data_thread_stacks: int = 0  # threads it starts with glibc's default stack (RLIMIT_STACK)
    # The compile step runs the submission's own code (perl -c runs BEGIN blocks): it is then
    # held to the run's limits (functions/runner.py compile_limits).
    compile_runs_code: bool = False
    out_of_memory: tuple[str, ...] = ()
    # stderr texts of a program that died of an uncaught exception (functions/special_judge.py:
    # a checker that exits 1 so crashed; it did not judge).
    uncaught_error: tuple[str, ...] = ()
    # The runtime needs a real /proc (Mono: glibc's pthread_getattr_np reads /proc/self/maps
    # for the main thread's stack): unavailable where the sandbox's /proc is the static
    # stand-in (functions/procfs.py).
    needs_procfs: bool = False
    main_class: str | None = None
    source_suffixes: tuple[str, ...] = ()
    compiler_options: tuple[str, ...] = ()
    support_files: Mapping[str, str] = field(default_factory=dict)
    precompiled: Mapping[str, object] = field(default_factory=dict)

    def source_name(self, code: str, default: str | None = None) -> str:
        """The file the entry point is written to: Java's must be named after its public class;
        else `default` (a multi-file entry's own name) or the registry's source_file."""
        if self.main_class:
            found = re.search(self.main_class, code)
            if found:
                return found.group(1) + Path(self.source_file).suffix
        return default or self.source_file

    def expand(
        self,
        command: tuple[str, ...],
        memory_kb: int,
        source: str,
        *,
        sources: tuple[str, ...] = (),
        options: tuple[str, ...] = (),
        pch_dir: str = "/nonexistent",
    ) -> tuple[str, ...]:
        """`command` with its placeholders filled in for one step; {sources} and {options}
        stand alone in their argument and are spliced (an empty list leaves nothing)."""
        expanded: list[str] = []
        for arg in command:
            if arg == "{sources}":
                expanded += sources or (source,)
            elif arg == "{options}":
                expanded += options
            else:
                expanded.append(self._fill(arg, memory_kb, source).replace("{pch_dir}", pch_dir))
        return tuple(expanded)

    def refused_options(self, options: tuple[str, ...]) -> list[str]:
        """The compiler options the registry does not allow for this language."""
        allowed = [re.compile(pattern) for pattern in self.compiler_options]
        return [o for o in options if not any(p.fullmatch(o) for p in allowed)]

    def environment(self, memory_kb: int, source: str) -> dict[str, str]:
        """The language's environment with its placeholders filled in."""
        return {k: self._fill(v, memory_kb, source) for k, v in self.env.items()}

    def _fill(self, text: str, memory_kb: int, source: str) -> str:
        heap_mb = max(16, memory_kb // 1024 * self.heap_percent // 100)
        return (
            text.replace("{heap_mb}", str(heap_mb))
            .replace("{source}", source)
            .replace("{main}", Path(source).stem)
        )

    @property
    def installed(self) -> bool:
        """True when the programs the language runs exist on this machine."""
        return not self.missing()

    def missing(self) -> list[str]:
        """Toolchain paths named by the version, compile and run commands that are absent."""
        commands = [self.version_command, self.compile or (), self.run]
        paths = {arg for command in commands for arg in command if arg.startswith("/usr/")}
        programs = {c[0] for c in commands if c and c[0].startswith("/usr/")}
        return sorted(
            p for p in paths if not (os.access(p, os.X_OK) if p in programs else os.path.exists(p))
        )

    def precompiled_header(self) -> Path | None:
        """The system header to precompile, when the registry names one and it is installed."""
        pattern = self.precompiled.get("header")
        found = sorted(glob.glob(str(pattern))) if pattern else []
        return Path(found[-1]) if found else None

    @cached_property
    def version(self) -> str:
        """The toolchain's own version line (a trusted command, run once, outside the sandbox)."""
        try:
            done = subprocess.run(
                self.version_command, capture_output=True, text=True, timeout=10, env={}
            )
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        lines = (done.stdout or done.stderr).strip().splitlines()
        return lines[0] if lines else "unknown"


def load_registry(path: Path = REGISTRY_PATH) -> dict[str, Language]:
    """Every configured language by id (installed or not)."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return {key: _language(key, table) for key, table in data.items()}


def served(registry: Mapping[str, Language], wanted: Iterable[str] | None) -> dict[str, Language]:
    """The installed languages among `wanted` (None: all of them)."""
    names = set(wanted) if wanted is not None else set(registry)
    return {k: v for k, v in registry.items() if k in names and v.installed}


def resolve(registry: Mapping[str, Language], name: str) -> Language | None:
    """A language by id or alias, case-insensitive."""
    wanted = name.strip().lower()
    if wanted in registry:
        return registry[wanted]
    return next((lang for lang in registry.values() if wanted in lang.aliases), None)


def _language(key: str, table: dict[str, object]) -> Language:
    def strings(name: str) -> tuple[str, ...]:
        value = table.get(name, ())
        assert isinstance(value, list | tuple), f"{key}.{name} must be a list"
        return tuple(str(v) for v in value)

    compile_command = strings("compile")
    env = table.get("env", {})
    assert isinstance(env, dict), f"{key}.env must be a table"
    limits = table.get("limits", {})
    assert isinstance(limits, dict), f"{key}.limits must be a table"
    unknown = set(limits) - {"cpu_ms", "wall_ms", "memory_mb", "processes"}
    assert not unknown, f"{key}.limits: unknown {sorted(unknown)}"
    heap_percent = table.get("heap_percent", 100)
    assert isinstance(heap_percent, int), f"{key}.heap_percent must be an integer"
    main_class = table.get("main_class")
    support = table.get("support_files", {})
    assert isinstance(support, dict), f"{key}.support_files must be a table"
    precompiled = table.get("precompiled", {})
    assert isinstance(precompiled, dict), f"{key}.precompiled must be a table"
    return Language(
        id=key,
        display_name=str(table.get("display_name", key)),
        description=str(table.get("description", "")),
        source_file=str(table["source_file"]),
        run=strings("run"),
        version_command=strings("version"),
        compile=compile_command or None,
        aliases=strings("aliases"),
        packages=strings("packages"),
        env={str(k): str(v) for k, v in env.items()},
        ro_paths=strings("ro_paths"),
        example=str(table.get("example", "")),
        limits={str(k): int(v) for k, v in limits.items()},
        heap_percent=heap_percent,
        address_space_limit=bool(table.get("address_space_limit", True)),
        data_overhead_mb=int(str(table.get("data_overhead_mb", 0))),
        data_thread_stacks=int(str(table.get("data_thread_stacks", 0))),
        compile_runs_code=bool(table.get("compile_runs_code", False)),
        needs_procfs=bool(table.get("needs_procfs", False)),
        out_of_memory=strings("out_of_memory"),
        uncaught_error=strings("uncaught_error"),
        main_class=str(main_class) if main_class else None,
        source_suffixes=strings("source_suffixes"),
        compiler_options=strings("compiler_options"),
        support_files={str(k): str(v) for k, v in support.items()},
        precompiled=dict(precompiled),
    )
