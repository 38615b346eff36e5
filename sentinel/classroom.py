"""GitHub Classroom's `setup` and `run` commands, mapped onto a Sentinel run, or refused.

Sentinel runs the submitted file itself (compiling it first when its language compiles), so a
classroom test can be graded here only when its commands do just that: build the program and
run it on the test's input ("gcc hello.c -o hello", "./hello", "python3 main.py", "node index.js",
"java Main", "go run main.go"). Commands that run something else ("npm test", "make test",
"pytest") check things Sentinel cannot see; they are refused by name, never silently skipped,
because a skipped test would be points given away or withheld.
"""

from __future__ import annotations

import re
import shlex
from pathlib import PurePosixPath

from sentinel.language_names import NATIVE, canonical

SHELL_SYNTAX = re.compile(r"[|<>`]|\$\(")
STEP_SEPARATOR = re.compile(r"&&|;|\n")

# Build steps: the server compiles the submission itself, so these are accepted and dropped.
COMPILERS: dict[str, frozenset[str]] = {
    "gcc": frozenset({"c", "cpp"}),
    "cc": frozenset({"c", "cpp"}),
    "clang": frozenset({"c", "cpp"}),
    "g++": frozenset({"cpp"}),
    "c++": frozenset({"cpp"}),
    "clang++": frozenset({"cpp"}),
    "javac": frozenset({"java"}),
    "rustc": frozenset({"rust"}),
}
SUBCOMMAND_BUILDS: dict[tuple[str, str], str] = {("go", "build"): "go", ("cargo", "build"): "rust"}
# Housekeeping that a fresh sandbox makes moot ("rm *.o" is the documented setup example).
HOUSEKEEPING = frozenset({"rm", "mkdir", "chmod", "true", ":", "cd", "echo"})
PYTHON = re.compile(r"^python(3(\.\d+)?)?$")
PYTHON_FLAGS = frozenset({"-u", "-B", "-O", "-OO", "-I", "-S", "-E", "-s"})


class CommandRefused(ValueError):
    """A classroom command that does not run the submitted program; the message says why."""


def check(test_name: str, setup: str, run: str, language: str) -> None:
    """Accept a classroom test's `setup` and `run` for a submission in `language`, or raise
    CommandRefused with a message naming the test and the command."""
    language = canonical(language)
    for field, command in (("setup", setup), ("run", run)):
        if SHELL_SYNTAX.search(command):
            raise _refused(
                test_name,
                field,
                command,
                "pipes, redirections and substitutions cannot be "
                "reproduced: Sentinel feeds the test's input to the program and reads its output",
            )
    for step in _steps(setup):
        why = _build_step(step, language)
        if why:
            raise _refused(test_name, "setup", setup, why)
    steps = _steps(run)
    if not steps:
        raise _refused(test_name, "run", run, "it is empty: there is nothing to run")
    for step in steps[:-1]:
        why = _build_step(step, language)
        if why:
            raise _refused(test_name, "run", run, why)
    why = _run_step(steps[-1], language)
    if why:
        raise _refused(test_name, "run", run, why)


def _refused(test_name: str, field: str, command: str, why: str) -> CommandRefused:
    return CommandRefused(
        f"test {test_name!r}: cannot grade its {field} command {command!r}: {why}"
    )


def _steps(command: str) -> list[list[str]]:
    steps = []
    for part in STEP_SEPARATOR.split(command):
        try:
            argv = shlex.split(part)
        except ValueError as exc:
            raise CommandRefused(f"cannot parse command {command!r}: {exc}") from exc
        if argv:
            steps.append(argv)
    return steps


def _build_step(argv: list[str], language: str) -> str | None:
    """None when `argv` builds the program (or is harmless), else why it cannot be mapped."""
    tool = PurePosixPath(argv[0]).name
    if tool in HOUSEKEEPING or (tool == "sudo" and argv[1:2] and argv[1] in HOUSEKEEPING):
        return None
    if tool in COMPILERS:
        if language in COMPILERS[tool]:
            return None
        return f"{tool} does not build a {language} program"
    built = SUBCOMMAND_BUILDS.get((tool, argv[1] if len(argv) > 1 else ""))
    if built is not None:
        return None if built == language else f"{' '.join(argv[:2])} does not build {language}"
    return (
        f"{' '.join(argv)!r} is not a build step of the submitted program; Sentinel only "
        "compiles and runs the submitted file (no package installs, no test runners)"
    )


def _run_step(argv: list[str], language: str) -> str | None:
    """None when `argv` runs the submitted program in `language`, else why it does not."""
    tool = PurePosixPath(argv[0]).name
    named = _language_run(argv)
    if named is None:
        return (
            f"{' '.join(argv)!r} does not run a program on its input; Sentinel runs the "
            f"submitted {language} file and judges its output (test runners such as "
            "npm test, make test or pytest cannot be mapped)"
        )
    if named == "native":
        if language in NATIVE:
            return None
        return f"{argv[0]} runs a native executable, but the submission is {language}"
    if named != language:
        return f"{tool} runs {named}, but the submission is {language}"
    return None


def _language_run(argv: list[str]) -> str | None:
    """The language `argv` runs a single program of ("native" for ./prog), or None."""
    tool = PurePosixPath(argv[0]).name
    args = argv[1:]
    if argv[0].startswith("./") and not args:
        return "native"
    if PYTHON.match(tool):
        rest = [a for a in args if a not in PYTHON_FLAGS]
        return "python" if len(rest) == 1 and rest[0].endswith(".py") else None
    if tool in ("node", "nodejs"):
        rest = [a for a in args if not a.startswith("-")]
        ok = len(rest) == 1 and rest[0].endswith((".js", ".mjs", ".cjs"))
        return canonical("node") if ok else None
    if tool == "java":
        rest = _without_options(args, with_value={"-cp", "-classpath", "--class-path"})
        return "java" if len(rest) == 1 else None
    if tool == "go" and args[:1] == ["run"]:
        rest = [a for a in args[1:] if not a.startswith("-")]
        return "go" if len(rest) == 1 and (rest[0] == "." or rest[0].endswith(".go")) else None
    if tool == "cargo" and args[:1] == ["run"]:
        return "rust" if all(a.startswith("-") for a in args[1:]) else None
    if tool == "ruby":
        return "ruby" if len(args) == 1 and args[0].endswith(".rb") else None
    return None


def _without_options(args: list[str], with_value: set[str]) -> list[str]:
    rest: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in with_value:
            skip = True
        elif not arg.startswith("-"):
            rest.append(arg)
    return rest
