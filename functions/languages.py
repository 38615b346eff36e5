"""The language registry: read functions/languages.toml into plain data.

The registry is data, not code, so adding a language never touches the sandbox or the runner.
A language whose toolchain is not installed is left out of the served set (and said so).

It is also the only place a language is described: what other programs call it (Judge0's ids,
Piston's names, the file extensions the CLI guesses from) is read from the same entry by
ingress/judge0/language_ids.py, ingress/piston/runtimes.py and sentinel/language_names.py, so
this module imports nothing but the standard library (the ingress and the CLI import it, and
nothing else of functions/).
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

from functions import forks

REGISTRY_PATH = Path(__file__).with_name("languages.toml")


@dataclass(frozen=True)
class Judge0Names:
    """The language in Judge0's API: its ids (clients hard-code them: 71 is Python), the name
    pattern its list shows ({version} is the executor's), and Judge0's file name for it."""

    ids: tuple[int, ...]
    name: str
    source_file: str


@dataclass(frozen=True)
class PistonNames:
    """The language in Piston's API: Piston's name for it (C++ is "c++"), the `runtime` Piston
    names when one language has several (javascript on node), and Piston's aliases."""

    language: str
    runtime: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrecompiledHeader:
    """A system header precompiled once per toolchain (functions/precompiled.py): found at
    `header`, included as `name`, built by `command` ({header}, {output})."""

    header: Path
    name: str
    command: tuple[str, ...]


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
    precompiled: tuple[Mapping[str, object], ...] = ()
    # The compile step builds what `run` runs (an executable, bytecode, JavaScript from
    # TypeScript), not only a syntax check: Piston shows a compile stage for these.
    builds: bool = False
    # File extensions of this language's sources besides source_file's and source_suffixes'
    # (the CLI guesses a file's language from them: `extensions`).
    more_extensions: tuple[str, ...] = ()
    judge0: Judge0Names | None = None  # None: Judge0 has no id for the language
    piston: PistonNames | None = None  # None: Piston knows it by its id, with no aliases of its own

    @property
    def extensions(self) -> tuple[str, ...]:
        """Every file extension a source of this language has (lower case, with the dot)."""
        found = [Path(self.source_file).suffix, *self.source_suffixes, *self.more_extensions]
        return tuple(dict.fromkeys(e.lower() for e in found if e))

    @property
    def native(self) -> bool:
        """The program that runs is the executable its build left in /box (C, C++, Go...)."""
        return bool(self.run) and self.run[0].startswith("/box/")

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

    @cached_property
    def precompiled_headers(self) -> tuple[PrecompiledHeader, ...]:
        """The system headers to precompile that the registry names and that are installed
        (looked for once: every C++ compile asks, functions/precompiled.py)."""
        headers = []
        for entry in self.precompiled:
            pattern, command = entry.get("header"), entry.get("command")
            found = sorted(glob.glob(str(pattern))) if pattern else []
            if found and isinstance(command, list):
                headers.append(
                    PrecompiledHeader(Path(found[-1]), str(entry["name"]), tuple(map(str, command)))
                )
        return tuple(headers)

    @cached_property
    def version(self) -> str:
        """The toolchain's own version line (a trusted command, run once, outside the sandbox)."""
        try:
            done = forks.run(self.version_command, timeout=10, text=True, env={})
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
    precompiled = table.get("precompiled", [])
    precompiled = [precompiled] if isinstance(precompiled, dict) else precompiled
    assert isinstance(precompiled, list) and all(
        isinstance(entry, dict) and {"header", "name", "command"} <= set(entry)
        for entry in precompiled
    ), f"{key}.precompiled must be tables of header, name and command"
    judge0 = table.get("judge0")
    assert judge0 is None or isinstance(judge0, dict), f"{key}.judge0 must be a table"
    piston = table.get("piston")
    assert piston is None or isinstance(piston, dict), f"{key}.piston must be a table"
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
        precompiled=tuple(dict(entry) for entry in precompiled),
        builds=bool(table.get("builds", False)),
        more_extensions=strings("extensions"),
        judge0=_judge0(key, judge0) if judge0 is not None else None,
        piston=_piston(key, piston) if piston is not None else None,
    )


def _judge0(key: str, table: dict[str, object]) -> Judge0Names:
    ids = table.get("ids")
    assert isinstance(ids, list) and ids, f"{key}.judge0.ids must be a list of Judge0's ids"
    return Judge0Names(
        ids=tuple(int(i) for i in ids),
        name=str(table["name"]),
        source_file=str(table["source_file"]),
    )


def _piston(key: str, table: dict[str, object]) -> PistonNames:
    aliases = table.get("aliases", [])
    assert isinstance(aliases, list), f"{key}.piston.aliases must be a list"
    runtime = table.get("runtime")
    return PistonNames(
        language=str(table.get("language", key)),
        runtime=str(runtime) if runtime is not None else None,
        aliases=tuple(str(a) for a in aliases),
    )
