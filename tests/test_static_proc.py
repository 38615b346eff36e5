"""The sandbox under a masked /proc: the static stand-in of functions/procfs.py.

Why here and not only in a container: the stand-in is chosen where the kernel refuses a fresh
procfs (a pod's masked /proc: tests/test_pod.py shows that), but it is the same bwrap command
line wherever it runs, so the whole hostile suite and every language's programs are run again
under it on this host, in a pytest of their own with SENTINEL_SANDBOX_PROC=static, and what
the stand-in offers (and costs) is checked one by one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventing.contract import Limits
from functions import procfs, sandbox
from functions.app import NO_PROCFS, create_app
from functions.settings import ExecutorSettings
from tests.sandbox_helpers import execute

REPO = Path(__file__).resolve().parents[1]
AGAIN = ("tests/test_hostile.py", "tests/test_languages.py")


@pytest.fixture
def static_proc() -> Iterator[None]:
    """This process's sandboxes get the stand-in (prepared sandboxes are keyed by the mode)."""
    saved = list(procfs._MODE)
    procfs._MODE[:] = [procfs.STATIC]
    try:
        yield
    finally:
        procfs._MODE[:] = saved


def test_this_host_mounts_a_private_procfs() -> None:
    """The probe's other answer: where the kernel allows it, the sandbox keeps a real procfs
    (tests/test_pod.py shows the static answer in a container with a masked /proc)."""
    assert procfs._probe() == procfs.PRIVATE


@pytest.mark.timeout(900)
def test_the_hostile_suite_and_every_language_pass_again_under_the_static_proc(
    tmp_path: Path,
) -> None:
    report = tmp_path / "junit.xml"
    env = {**os.environ, "SENTINEL_SANDBOX_PROC": "static"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
         "junit_family=xunit1", f"--junitxml={report}", *AGAIN],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=880, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    cases = ET.parse(report).getroot().iter("testcase")
    outcomes = {
        f"{c.get('classname')}.{c.get('name')}": {
            child.tag: child.get("message", "") for child in c
        }
        for c in cases
    }
    skipped = {name: tags["skipped"] for name, tags in outcomes.items() if "skipped" in tags}
    passed = [name for name, tags in outcomes.items() if not tags]
    # Only C# (Mono needs /proc/self/maps) may be skipped for the mode: the two files skip
    # nothing else on this host.
    assert all("csharp needs a private /proc" in why for why in skipped.values()), skipped
    assert len(passed) >= 150, (len(passed), skipped)


def test_proc_holds_only_the_link_to_the_program_and_a_copy_of_stdin(static_proc: None) -> None:
    code = """import os
print(sorted(os.listdir('/proc')), sorted(os.listdir('/proc/self')), os.listdir('/proc/self/fd'))
print(os.readlink('/proc/self/exe'))
print(open('/dev/stdin').read().strip(), input())
for path in ('/proc/1', '/proc/self/environ', '/proc/self/mountinfo', '/proc/sys',
             '/proc/self/status'):
    print(path, os.path.exists(path))
try:
    open('/proc/written', 'w')
except OSError as e:
    print('write refused', e.errno)
"""
    result = execute("python", code, "line-of-input")
    assert result.verdict == "accepted", result
    lines = result.output.splitlines()
    assert lines[0] == "['self'] ['exe', 'fd'] ['0']"
    assert lines[1] == os.path.realpath("/usr/bin/python3")
    assert lines[2] == "line-of-input line-of-input"
    assert all(line.endswith(" False") for line in lines[3:8]), lines
    assert lines[8] in ("write refused 30", "write refused 13"), lines  # EROFS (or EACCES)


@pytest.mark.parametrize(
    ("language", "code"),
    [
        ("javascript", "console.log(require('fs').readFileSync('/dev/stdin', 'utf8').trim())"),
        ("bash", "cat /dev/stdin"),
        ("python", "print(open('/dev/fd/0').read().strip())"),
    ],
)
def test_dev_stdin_reads_the_input(static_proc: None, language: str, code: str) -> None:
    result = execute(language, code, "read-by-path")
    assert (result.verdict, result.output.strip()) == ("accepted", "read-by-path"), result


def test_dev_stderr_by_path_is_missing_not_silently_dropped(static_proc: None) -> None:
    """The stand-in's cost, as docs/security.md states it: writing to /dev/stderr by path fails
    loudly (the program's descriptors 1 and 2 work as ever)."""
    result = execute("bash", "echo on-fd-2 >&2; echo by-path > /dev/stderr; echo rc=$?")
    assert result.verdict == "accepted", result
    assert "rc=1" in result.output and "on-fd-2" in result.error, result


def test_java_finds_its_runtime_through_the_link(static_proc: None) -> None:
    """The Java launcher finds libjli.so through /proc/self/exe: without the link it fails."""
    code = (
        'public class Main { public static void main(String[] a) { System.out.println("jvm up");'
        " } }"
    )
    result = execute("java", code, limits=Limits(memory_mb=512))
    assert (result.verdict, result.output) == ("accepted", "jvm up\n"), result


def test_an_executor_under_the_static_proc_names_what_csharp_lacks(
    static_proc: None, tmp_path: Path
) -> None:
    app = create_app(ExecutorSettings(work_dir=tmp_path, languages=("python", "csharp")))
    client = app.test_client()
    listed = client.get("/languages").get_json()
    assert [lang["name"] for lang in listed["languages"]] == ["python"], listed
    assert {"name": "csharp", "missing": [NO_PROCFS]}.items() <= listed["unavailable"][0].items()
    health = client.get("/health").get_json()
    assert health["proc"] == "static"


def test_mono_cannot_start_under_the_static_proc(static_proc: None) -> None:
    """Why C# is the exception (functions/procfs.py): Mono asks glibc for its main thread's
    stack, which glibc reads from /proc/self/maps. Run anyway, straight through the sandbox, it
    aborts before the program's first line."""
    result = sandbox.run(
        ["/usr/bin/mono", "/usr/lib/mono/4.5/mcs.exe", "--version"],
        limits=sandbox.RunLimits(cpu_ms=10_000, wall_ms=20_000, memory_kb=512 * 1024,
                              output_bytes=65536, address_space=False),
        ro_paths=["/etc/mono"],
    )  # fmt: skip
    text = (result.stdout + result.stderr).decode(errors="replace")
    assert result.exit_code != 0 or result.signal is not None, text
    assert "pthread_getattr_np" in text or "requires /proc" in text, text
