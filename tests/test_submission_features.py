"""The submission's options, through functions.runner with the real sandbox and toolchains:
multi-file programs, args, redirectStderrToStdout, numberOfRuns, compilerOptions (allowed and
refused), points and score, per-submission limits, the compile cache and the precompiled header;
and the closures they need (a compile step's symlink never reaches a run)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from eventing.contract import ExecutionResult, Limits, SourceFile, Submission, TestCase
from functions import precompiled, runner
from functions.compile_cache import CompileCache
from functions.settings import ExecutorSettings
from tests.sandbox_helpers import LANGUAGES, SETTINGS, leftovers


@pytest.fixture(autouse=True)
def _nothing_left_behind() -> None:
    yield
    assert leftovers() == []


def run(language: str, settings: ExecutorSettings = SETTINGS, **fields: Any) -> ExecutionResult:
    submission = Submission(id=uuid.uuid4().hex, language=language, **fields)
    return runner.execute(submission, LANGUAGES[language], settings)


def files(**named: str) -> list[SourceFile]:
    return [SourceFile(name=name.replace("__", "."), content=text) for name, text in named.items()]


def test_python_multi_file_runs_the_first_file_which_imports_the_others() -> None:
    result = run(
        "python",
        files=files(
            app__py="import helper\nprint(helper.twice(21))",
            helper__py="def twice(n):\n    return n * 2",
        ),
    )
    assert (result.verdict, result.output) == ("accepted", "42\n"), result


def test_java_multi_file_entry_class_is_found_by_its_public_class() -> None:
    entry = "public class Solver { public static void main(String[] a) { System.out.println(Helper.twice(21)); } }"
    result = run(
        "java",
        files=files(
            Anything__java=entry,
            Helper__java="class Helper { static int twice(int n) { return 2 * n; } }",
        ),
    )
    assert (result.verdict, result.output) == ("accepted", "42\n"), result


def test_cpp_multi_file_compiles_every_translation_unit() -> None:
    result = run(
        "cpp",
        files=files(
            main__cpp='#include <cstdio>\n#include "twice.h"\nint main() { std::printf("%d\\n", twice(21)); }',
            twice__h="int twice(int n);",
            twice__cpp='#include "twice.h"\nint twice(int n) { return 2 * n; }',
        ),
    )
    assert (result.verdict, result.output) == ("accepted", "42\n"), result


def test_args_reach_the_program() -> None:
    result = run("python", code="import sys\nprint(sys.argv[1:])", args=["a b", "--c", "$HOME"])
    assert result.output == "['a b', '--c', '$HOME']\n", result


def test_redirect_stderr_to_stdout_keeps_the_order() -> None:
    code = "import sys\nprint('one', flush=True)\nprint('two', file=sys.stderr, flush=True)\nprint('three')"
    result = run("python", code=code, redirect_stderr_to_stdout=True)
    assert (result.output, result.error) == ("one\ntwo\nthree\n", ""), result
    plain = run("python", code=code)
    assert (plain.output, plain.error) == ("one\nthree\n", "two\n")


def test_number_of_runs_runs_each_case_that_many_times(tmp_path: Path) -> None:
    # Each run appends to a file in a host dir no run can see... so count via /tmp? Runs share
    # nothing; count instead by the output of the last run being produced N times: use stdin.
    result = run("python", code="print(input())", input="x", number_of_runs=3)
    assert (result.verdict, result.output) == ("accepted", "x\n")
    assert result.execution_time > 0


def test_allowed_compiler_options_change_the_compile() -> None:
    code = '#include <cstdio>\nint main() { std::printf("%d\\n", VALUE); }'
    result = run("cpp", code=code, compiler_options="-O0 -DVALUE=7 -std=gnu++20 -Wall")
    assert (result.verdict, result.output) == ("accepted", "7\n"), result
    assert result.compile is not None and result.compile.verdict == "accepted"


@pytest.mark.parametrize(
    ("language", "options"),
    [
        ("cpp", "-fplugin=/tmp/evil.so"),
        ("cpp", "-O2 -o /box/elsewhere"),
        ("c", "-B/tmp"),
        ("cpp", "-DX=$(id)"),
        ("python", "-O2"),
    ],
)
def test_other_compiler_options_are_refused_with_a_message(language: str, options: str) -> None:
    result = run(language, code="int main() {}", compiler_options=options)
    assert result.verdict == "compilation_error"
    assert "compilerOptions" in result.compile_output
    assert result.compile is None  # refused before any compiler ran


def test_points_make_a_score_and_stop_on_first_failure_stops() -> None:
    cases = [
        TestCase(input="1\n", expected="2", points=3, name="small"),
        TestCase(input="2\n", expected="5", points=5, name="wrong"),
        TestCase(input="3\n", expected="6", points=2, name="never run"),
    ]
    code = "print(int(input()) * 2)"
    result = run("python", code=code, test_cases=cases)
    assert (result.score, result.max_score) == (5, 10)
    assert [(c.name, c.points) for c in result.test_cases or []] == [
        ("small", 3),
        ("wrong", 0),
        ("never run", 2),
    ]
    stopped = run("python", code=code, test_cases=cases, stop_on_first_failure=True)
    assert [c.name for c in stopped.test_cases or []] == ["small", "wrong"]
    assert (stopped.score, stopped.max_score) == (3, 10)
    unscored = run("python", code=code, test_cases=[TestCase(input="1\n", expected="2")])
    assert unscored.score is None and unscored.max_score is None


def test_floats_and_tolerance_reach_the_checker() -> None:
    case = [TestCase(input="", expected="0.3333")]
    code = "print(1/3)"
    assert (
        run("python", code=code, test_cases=case, compare="floats", absolute_tolerance=1e-3).verdict
        == "accepted"
    )
    assert (
        run("python", code=code, test_cases=case, compare="floats", absolute_tolerance=1e-9).verdict
        == "wrong_answer"
    )


def test_regex_checker_note_lands_in_the_error() -> None:
    case = [TestCase(input="", expected="(unclosed")]
    result = run("python", code="print(1)", test_cases=case, compare="regex")
    assert result.verdict == "wrong_answer"
    assert "invalid regex" in result.error


def test_stack_and_process_limits_are_applied() -> None:
    code = "import resource\nprint(resource.getrlimit(resource.RLIMIT_STACK)[0] // 1024)"
    result = run("python", code=code, limits=Limits(stack_kb=12_345))
    assert result.output == "12345\n", result
    huge = run("python", code=code, limits=Limits(stack_kb=10**9))
    assert huge.output == f"{SETTINGS.max_stack_kb}\n"  # clamped to the server's maximum


def test_file_size_limit_stops_a_writer() -> None:
    code = "open('/tmp/f', 'wb').write(b'x' * 200_000)\nprint('wrote')"
    result = run("python", code=code, limits=Limits(file_size_kb=64))
    assert result.verdict == "runtime_error", result


# The compile cache


def cached_settings(tmp_path: Path, megabytes: int = 64) -> ExecutorSettings:
    # The sandbox's host user must reach a precompiled header to bind it (pytest's own
    # directories are private to root): functions/identity.py reachable.
    for directory in [tmp_path, *tmp_path.parents]:
        if directory == Path(tempfile.gettempdir()):
            break
        if directory.exists():
            directory.chmod(directory.stat().st_mode | 0o711)
    return ExecutorSettings(
        compile_cpu_ms=8000, compile_wall_ms=16000, cache_dir=tmp_path, compile_cache_mb=megabytes
    )


def test_a_second_identical_submission_does_not_run_the_compiler(tmp_path: Path) -> None:
    settings = cached_settings(tmp_path)
    cache = runner.cache_for(settings)
    code = '#include <cstdio>\nint main() { std::puts("cached"); }'
    first = run("cpp", settings, code=code)
    second = run("cpp", settings, code=code)
    assert first.compile is not None and second.compile is not None
    assert (first.compile.cached, second.compile.cached) == (False, True)
    assert (cache.stats.stores, cache.stats.hits) == (1, 1)
    assert first.output == second.output == "cached\n"


def test_a_cached_compile_error_is_reused(tmp_path: Path) -> None:
    settings = cached_settings(tmp_path)
    first = run("c", settings, code="int main(void) { return nope; }")
    second = run("c", settings, code="int main(void) { return nope; }")
    assert first.verdict == second.verdict == "compilation_error"
    assert second.compile is not None and second.compile.cached
    assert "nope" in second.compile_output


def test_two_different_sources_never_share_an_artifact(tmp_path: Path) -> None:
    settings = cached_settings(tmp_path)
    outputs = set()
    for n in range(3):
        result = run(
            "c", settings, code=f'#include <stdio.h>\nint main(void) {{ puts("{n}"); return 0; }}'
        )
        assert result.compile is not None and not result.compile.cached
        outputs.add(result.output)
    # Same code, different options: a different artifact too.
    code = '#include <stdio.h>\nint main(void) { printf("%d\\n", V); return 0; }'
    a = run("c", settings, code=code, compiler_options="-DV=1")
    b = run("c", settings, code=code, compiler_options="-DV=2")
    assert outputs == {"0\n", "1\n", "2\n"} and (a.output, b.output) == ("1\n", "2\n")


def test_identical_submissions_at_once_all_get_a_whole_artifact(tmp_path: Path) -> None:
    settings = cached_settings(tmp_path)
    code = '#include <stdio.h>\nint main(void) { puts("together"); return 0; }'
    results: list[ExecutionResult] = []
    threads = [
        threading.Thread(target=lambda: results.append(run("c", settings, code=code)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.output for r in results] == ["together\n"] * 4, results
    assert len([p for p in (tmp_path / "compiled").iterdir() if p.name != ".tmp"]) == 1


def test_the_cache_stays_within_its_bound(tmp_path: Path) -> None:
    cache = CompileCache(tmp_path / "c", max_bytes=3000)
    for n in range(5):
        staged = cache.staging()
        (staged / "box" / "artifact").write_bytes(bytes(1000))
        cache.store(f"key{n}", staged, {"n": n})
    assert cache.total_bytes() <= 3000
    assert cache.lookup("key4") is not None and cache.lookup("key0") is None
    assert cache.stats.evictions >= 2


@pytest.fixture(scope="module")
def without_compile_cache(tmp_path_factory: pytest.TempPathFactory) -> ExecutorSettings:
    """No compile cache (the compiler runs each time), and C++'s precompiled headers built once
    for the tests that use them (6 s of CPU each time)."""
    settings = cached_settings(tmp_path_factory.mktemp("pch"), megabytes=0)
    precompiled.ready(LANGUAGES["cpp"], settings.cache_root, wait=True)
    return settings


def test_the_precompiled_header_is_used_and_the_result_is_the_same(
    without_compile_cache: ExecutorSettings,
) -> None:
    settings = without_compile_cache
    where = precompiled.ready(LANGUAGES["cpp"], settings.cache_root)
    assert where is not None and (where / "bits" / "stdc++.h.gch").stat().st_size > 0
    code = "#include <bits/stdc++.h>\nint main() { std::vector<int> v{3, 1, 2}; std::sort(v.begin(), v.end()); std::cout << v[0] << '\\n'; }"
    result = run("cpp", settings, code=code)
    assert (result.verdict, result.output) == ("accepted", "1\n"), result


def test_a_build_abandoned_by_a_stopped_executor_is_removed_and_one_in_progress_kept(
    tmp_path: Path,
) -> None:
    """A stopped executor leaves its half-built .gch (a temp file) in the cache, which outlives
    it: the next build removes those older than a build may take, and no younger one."""
    settings = cached_settings(tmp_path, megabytes=0)
    where = precompiled.directory(LANGUAGES["cpp"], settings.cache_root)
    assert where is not None
    (where / "bits").mkdir(parents=True)
    abandoned, in_progress = where / "bits" / "old.tmp", where / "bits" / "new.tmp"
    for partial in (abandoned, in_progress):
        partial.write_bytes(b"half a header")
    long_ago = time.time() - precompiled.BUILD_TIMEOUT_S - 60
    os.utime(abandoned, (long_ago, long_ago))
    assert precompiled.ready(LANGUAGES["cpp"], settings.cache_root, wait=True) == where
    assert not abandoned.exists() and in_progress.exists()


@pytest.mark.parametrize("first_include", ["bits/stdc++.h", "iostream"])
def test_each_precompiled_header_is_valid_for_the_compile_command(
    tmp_path: Path, without_compile_cache: ExecutorSettings, first_include: str
) -> None:
    """g++ -H marks the header it read from a .gch with "!" and one it found but could not use
    with "x": each header the executor built must be usable with the registry's compile flags,
    or a source that starts with it is compiled from the real header, correct but slow."""
    language = LANGUAGES["cpp"]
    where = precompiled.ready(language, without_compile_cache.cache_root)
    assert where is not None
    source = tmp_path / "main.cpp"
    source.write_text(f"#include <{first_include}>\nint main() {{ std::cout << 1; }}\n")
    assert language.compile is not None
    flags = [a for a in language.compile[1:] if a.startswith(("-O", "-std"))]
    done = subprocess.run(
        ["g++", *flags, "-H", f"-I{where}", "-o", str(tmp_path / "main"), str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"! {where}/{first_include}.gch" in done.stderr, done.stderr[:2000]


def test_a_symlink_left_by_a_compile_step_never_reaches_a_run(tmp_path: Path) -> None:
    """perl -c runs BEGIN blocks in the compile sandbox, where /box is writable: a symlink made
    there must not come out of it (functions/box_files.py takes plain files only)."""
    secret = tmp_path / "host-secret"
    secret.write_text("host secret")
    code = f'BEGIN {{ symlink("{secret}", "leak"); }}\nopen(my $f, "<", "leak") or die "no leak: $!"; print <$f>;'
    result = run("perl", cached_settings(tmp_path / "cache"), code=code)
    assert "host secret" not in result.output
    assert result.verdict == "runtime_error" and "no leak" in result.error, result
