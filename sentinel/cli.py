"""The `sentinel` command: run a file, or grade it against a test suite, on a Sentinel server.

Exit codes (documented in docs/ci-grading.md; CI scripts branch on them):

    0  accepted: the run was accepted, or every test passed (or --min-points was reached)
    1  the program failed: wrong answer, runtime error, a limit exceeded, tests failing
    2  usage error: bad arguments, unreadable file, unknown language, bad or unmappable suite
    3  compilation error
    4  the server refused the request (4xx: unsupported language, invalid field, API key)
    5  the service failed: unreachable, timed out, 5xx, or internal_error/failed job

1 and 3 are the student's to fix; 4 is the caller's; 5 is the infrastructure's (retry).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn

from sentinel import language_names, reports
from sentinel.client import Client, ServiceError
from sentinel.progress import Spinner
from sentinel.settings import CliSettings
from sentinel.suite_grading import Grade, grade
from sentinel.testsuite import SuiteError, load


class Exit(IntEnum):
    """The command's exit codes; see the module docstring."""

    OK = 0
    FAILED = 1
    USAGE = 2
    COMPILE = 3
    REFUSED = 4
    UNAVAILABLE = 5


class UsageError(Exception):
    """Something the user must fix in the command line or its files."""


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of `sentinel` and `python -m sentinel.cli`."""
    sys.exit(run_cli(argv))


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, do the command, and return its exit code."""
    args = _parser().parse_args(argv)
    client = Client(url=args.server, api_key=args.api_key or None, timeout_s=args.timeout)
    try:
        code: int = args.command(args, client)
        return code
    except UsageError as exc:
        _say(f"error: {exc}")
        return Exit.USAGE
    except ServiceError as exc:
        _say(f"error: {exc}")
        return Exit.REFUSED if exc.refused else Exit.UNAVAILABLE


def _parser() -> argparse.ArgumentParser:
    env = CliSettings.from_env()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server",
        default=env.url,
        help="Sentinel's base URL (env SENTINEL_URL; default %(default)s)",
    )
    common.add_argument(
        "--api-key",
        default=env.api_key,
        help="sent as the X-API-Key header (env SENTINEL_API_KEY)",
    )
    common.add_argument(
        "--timeout",
        type=_positive_float,
        default=300.0,
        help="seconds to wait for a result before giving up (default %(default)s)",
    )
    common.add_argument("--language", "-l", help="language id; guessed from FILE's extension")
    common.add_argument("--cpu-time-ms", type=_positive_int, help="CPU time limit per run")
    common.add_argument("--wall-time-ms", type=_positive_int, help="wall time limit per run")
    common.add_argument("--memory-mb", type=_positive_int, help="memory limit per run")

    parser = argparse.ArgumentParser(
        prog="sentinel",
        description="Run code on a Sentinel server, or grade it against a test suite.",
        epilog="Exit codes: 0 accepted/all passed, 1 failed, 2 usage error, "
        "3 compilation error, 4 refused by the server, 5 service unavailable or failed.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", parents=[common], help="run FILE once; its output is yours, its verdict the code"
    )
    run.add_argument("file", metavar="FILE", type=Path)
    run.add_argument("--stdin", metavar="FILE", help="the program's standard input ('-': ours)")
    run.set_defaults(command=_run)

    grade_cmd = commands.add_parser(
        "grade", parents=[common], help="grade FILE against a test suite"
    )
    grade_cmd.add_argument("file", metavar="FILE", type=Path)
    grade_cmd.add_argument(
        "--tests",
        required=True,
        type=Path,
        metavar="TESTS",
        help="YAML/JSON list of cases, or GitHub Classroom's autograding.json",
    )
    grade_cmd.add_argument("--junit", type=Path, metavar="PATH", help="write JUnit XML here")
    grade_cmd.add_argument(
        "--min-points",
        type=float,
        metavar="N",
        help="exit 0 when at least N points are earned, even if some tests fail",
    )
    grade_cmd.set_defaults(command=_grade)

    langs = commands.add_parser("languages", parents=[common], help="list the server's languages")
    langs.set_defaults(command=_languages)
    return parser


def _run(args: argparse.Namespace, client: Client) -> int:
    code = _read_code(args.file)
    language = _language(args)
    stdin = _read_stdin(args.stdin)
    body: dict[str, Any] = {"code": code, "language": language, "input": stdin}
    limits = _limits(args)
    if limits:
        body["limits"] = limits
    spinner = Spinner(f"running {args.file.name} on {client.url}")
    try:
        spinner.tick()
        job = client.execute(body, spinner.tick)
    finally:
        spinner.clear()
    if job.get("status") == "failed":
        raise ServiceError(f"Sentinel could not run the job: {job.get('error') or job}")
    if job.get("compileOutput"):
        sys.stderr.write(str(job["compileOutput"]))
    sys.stdout.write(str(job.get("output") or ""))
    sys.stdout.flush()
    sys.stderr.write(str(job.get("error") or ""))
    verdict = str(job.get("verdict") or "internal_error")
    if verdict != "accepted":
        how = ""
        if verdict == "runtime_error":
            how = (
                f" (signal {job['signal']})"
                if job.get("signal")
                else (f" (exit code {job.get('exitCode')})")
            )
        _say(f"sentinel: {verdict}{how}")
    return _verdict_exit(verdict)


def _verdict_exit(verdict: str) -> int:
    if verdict == "accepted":
        return Exit.OK
    if verdict == "compilation_error":
        return Exit.COMPILE
    if verdict == "internal_error":
        return Exit.UNAVAILABLE
    return Exit.FAILED


def _grade(args: argparse.Namespace, client: Client) -> int:
    code = _read_code(args.file)
    language = _language(args)
    try:
        suite = load(args.tests, language)
    except SuiteError as exc:
        raise UsageError(str(exc)) from exc
    spinner = Spinner(f"grading {args.file.name}: {len(suite.cases)} tests on {client.url}")
    try:
        spinner.tick()
        result = grade(
            client,
            code=code,
            language=language,
            file=str(args.file),
            suite=suite,
            limits=_limits(args),
            on_wait=spinner.tick,
        )
    finally:
        spinner.clear()
    name = _suite_name(args.tests)
    sys.stdout.write(reports.table(result))
    details = reports.failures(result)
    if details:
        sys.stdout.write("\n" + details)
    if args.junit:
        _write(args.junit, reports.junit_xml(result, name))
    env = CliSettings.from_env()
    if env.github_actions == "true":
        sys.stdout.write("".join(line + "\n" for line in reports.github_annotations(result)))
    step_summary = env.github_step_summary
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as out:
                out.write(reports.summary(result, name))
        except OSError as exc:
            _say(f"warning: cannot write the job summary to {step_summary}: {exc}")
    sys.stdout.flush()
    return _grade_exit(result, args.min_points)


def _grade_exit(result: Grade, min_points: float | None) -> int:
    if result.passed or (min_points is not None and result.points >= min_points):
        return Exit.OK
    if result.count("internal_error"):
        return Exit.UNAVAILABLE
    if result.count("compilation_error"):
        return Exit.COMPILE
    return Exit.FAILED


def _languages(args: argparse.Namespace, client: Client) -> int:
    for entry in client.languages():
        print(f"{entry.get('name', '?'):<12} {entry.get('version', '')}".rstrip())
    return Exit.OK


def _suite_name(path: Path) -> str:
    """autograding.json is always called that; its repository's folder names it better."""
    if path.name == "autograding.json" and path.parent.name == "classroom":
        return "classroom"
    return path.stem


def _read_code(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc


def _read_stdin(name: str | None) -> str:
    if name is None:
        return ""
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read --stdin {name}: {exc}") from exc


def _language(args: argparse.Namespace) -> str:
    if args.language:
        return str(args.language)
    guessed = language_names.guess(args.file)
    if guessed is None:
        known = ", ".join(sorted(language_names.EXTENSIONS))
        raise UsageError(
            f"cannot tell the language of {args.file} from its extension ({known}); pass --language"
        )
    return guessed


def _limits(args: argparse.Namespace) -> dict[str, int]:
    given = {
        "cpuTimeMs": args.cpu_time_ms,
        "wallTimeMs": args.wall_time_ms,
        "memoryMb": args.memory_mb,
    }
    return {k: v for k, v in given.items() if v is not None}


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc}") from exc


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _say(message: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    main()
