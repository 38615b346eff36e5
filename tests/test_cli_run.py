"""`sentinel run`: the program's output is passed through, its verdict becomes the exit code.

Every test runs the real command in a subprocess against the real service (`stack`).
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinel.serve import free_port
from tests.cli_support import require_language, sentinel
from tests.conftest import Stack, ingress_app
from tests.subscriber import serving

DOUBLE_PY = "import sys\nn = int(input())\nprint(n * 2)\nprint('note', file=sys.stderr)\n"
DOUBLE_JS = (
    "const n = parseInt(require('fs').readFileSync(0, 'utf8'));\n"
    "console.log(n * 2);\nconsole.error('note');\n"
)


def test_accepted_python_prints_stdout_and_stderr_apart_and_exits_0(
    stack: Stack, tmp_path: Path
) -> None:
    (tmp_path / "double.py").write_text(DOUBLE_PY)
    (tmp_path / "in.txt").write_text("21\n")
    done = sentinel("run", "double.py", "--stdin", "in.txt", server=stack.url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "42\n"
    assert done.stderr == "note\n"  # the program's stderr only: no spinner off a terminal


def test_stdin_dash_reads_our_own_stdin(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "double.py").write_text(DOUBLE_PY)
    done = sentinel("run", "double.py", "--stdin", "-", server=stack.url, cwd=tmp_path, stdin="5")
    assert (done.returncode, done.stdout) == (0, "10\n")


def test_runtime_error_exits_1_with_the_traceback_and_verdict(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "crash.py").write_text("print('before')\n1 / 0\n")
    done = sentinel("run", "crash.py", server=stack.url, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == "before\n"
    assert "ZeroDivisionError" in done.stderr
    assert "sentinel: runtime_error (exit code 1)" in done.stderr


def test_compilation_error_exits_3_with_the_compiler_message(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("print('unclosed'\n")
    done = sentinel("run", "broken.py", server=stack.url, cwd=tmp_path)
    assert done.returncode == 3
    assert "SyntaxError" in done.stderr
    assert done.stdout == ""


def test_language_the_server_does_not_run_exits_4_with_its_message(
    stack: Stack, tmp_path: Path
) -> None:
    (tmp_path / "prog.txt").write_text("DISPLAY 'HI'.\n")
    done = sentinel("run", "prog.txt", "--language", "cobol", server=stack.url, cwd=tmp_path)
    assert done.returncode == 4
    assert "language 'cobol' is not supported" in done.stderr
    assert "field: language" in done.stderr
    assert "python" in done.stderr  # the supported list


def test_unreachable_server_exits_5_naming_the_url(tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text("print('hi')\n")
    url = f"http://127.0.0.1:{free_port()}"
    done = sentinel("run", "hello.py", server=url, cwd=tmp_path)
    assert done.returncode == 5
    assert f"cannot reach Sentinel at {url}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "prog.xyz"], "cannot tell the language of prog.xyz"),
        (["run", "missing.py"], "cannot read missing.py"),
        (["run", "hello.py", "--stdin", "missing.txt"], "cannot read --stdin missing.txt"),
        (["run"], "required: FILE"),
        (["run", "hello.py", "--memory-mb", "0"], "must be positive"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_before_any_request(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "hello.py").write_text("print('hi')\n")
    (tmp_path / "prog.xyz").write_text("?")
    # A server that is not there: a usage error must be found before contacting it.
    done = sentinel(*args, server=f"http://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


def test_server_option_wins_over_the_environment(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text("print('hi')\n")
    nowhere = f"http://127.0.0.1:{free_port()}"
    done = sentinel("run", "hello.py", "--server", stack.url, server=nowhere, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "hi\n")


def test_javascript_accepted_and_failing(stack: Stack, tmp_path: Path) -> None:
    require_language(stack, "javascript")
    (tmp_path / "double.js").write_text(DOUBLE_JS)
    done = sentinel("run", "double.js", "--stdin", "-", server=stack.url, cwd=tmp_path, stdin="4")
    assert (done.returncode, done.stdout, done.stderr) == (0, "8\n", "note\n")
    (tmp_path / "crash.js").write_text("console.log('before');\nnull.x;\n")
    done = sentinel("run", "crash.js", server=stack.url, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == "before\n"
    assert "TypeError" in done.stderr


def test_progress_spinner_shows_on_a_terminal_only(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text("print('hi')\n")
    controller, terminal = pty.openpty()
    env = {**os.environ, "SENTINEL_URL": stack.url}
    process = subprocess.Popen(
        [sys.executable, "-m", "sentinel.cli", "run", "hello.py"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=terminal,
        stdin=subprocess.DEVNULL,
    )
    os.close(terminal)
    seen = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(controller)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert stdout == b"hi\n"
    assert b"running hello.py" in seen
    assert seen.endswith(b"\r\x1b[K")  # and erased before the program's output


@pytest.fixture(scope="module")
def keyed(stack: Stack) -> Iterator[Stack]:
    """A service that requires an API key (SENTINEL_API_KEYS): an ingress so configured, served
    over real HTTP from a thread of this process, queuing onto the started stack's broker (its
    key prefix), whose dispatcher and executor run the jobs."""
    app = ingress_app(stack.redis_url, stack.key_prefix, {"SENTINEL_API_KEYS": "cli-key"})
    with serving(app) as url:
        yield Stack(url, stack.redis_url, stack.key_prefix, stack.log_dir)


def test_api_key_from_the_option_or_the_environment(keyed: Stack, tmp_path: Path) -> None:
    (tmp_path / "hi.py").write_text("print('hi')")
    refused = sentinel("run", "hi.py", server=keyed.url, cwd=tmp_path)
    assert refused.returncode == 4, refused.stderr
    assert "401" in refused.stderr and "--api-key" in refused.stderr
    by_option = sentinel("run", "hi.py", "--api-key", "cli-key", server=keyed.url, cwd=tmp_path)
    assert (by_option.returncode, by_option.stdout) == (0, "hi\n"), by_option.stderr
    by_env = sentinel(
        "run", "hi.py", server=keyed.url, cwd=tmp_path, env={"SENTINEL_API_KEY": "cli-key"}
    )
    assert (by_env.returncode, by_env.stdout) == (0, "hi\n"), by_env.stderr
    wrong = sentinel("run", "hi.py", "--api-key", "nope", server=keyed.url, cwd=tmp_path)
    assert wrong.returncode == 4
