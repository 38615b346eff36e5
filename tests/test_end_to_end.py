"""A submission's whole path: HTTP → Redis → dispatcher → sandboxed executor → sink → HTTP.

Every test here goes through the real services started by the `stack` fixture.
"""

from __future__ import annotations

import requests

from tests.conftest import Stack


def test_single_input_runs_and_returns_the_seed_shape(stack: Stack) -> None:
    answer = stack.submit({"language": "python", "code": "print(int(input()) * 2)", "input": "21"})
    assert answer["status"] == "queued"
    assert set(answer) == {"id", "status", "timestamp", "message"}
    job = stack.wait(answer["id"])
    assert job["status"] == "completed"
    assert job["verdict"] == "accepted"
    assert job["output"] == "42\n"
    assert job["id"] == answer["id"]
    assert job["timestamp"] == answer["timestamp"]
    assert job["executionTime"] >= 0 and job["memoryKb"] > 0
    assert "testCases" not in job


def test_execute_without_api_prefix_works_too(stack: Stack) -> None:
    answer = requests.post(
        f"{stack.url}/execute", json={"language": "py", "code": "print('hi')"}, timeout=10
    )
    assert answer.status_code == 202
    assert stack.wait(answer.json()["id"])["output"] == "hi\n"


def test_test_cases_with_a_pass_and_a_fail(stack: Stack) -> None:
    job = stack.run(
        {
            "language": "python",
            "code": "print(int(input()) * 2)",
            "testCases": [{"input": "5", "expected": "10"}, {"input": "3", "expected": "7"}],
        }
    )
    assert job["verdict"] == "wrong_answer"
    first, second = job["testCases"]
    assert first["passed"] is True and first["verdict"] == "accepted"
    assert first["actualOutput"] == "10\n"
    assert second["passed"] is False and second["verdict"] == "wrong_answer"
    assert second["actualOutput"] == "6\n" and second["expected"] == "7"
    assert job["output"] == "10\n6"


def test_comparison_ignores_trailing_spaces_and_blank_lines(stack: Stack) -> None:
    job = stack.run(
        {
            "language": "python",
            "code": "print('a  ')\nprint('b')\nprint()\nprint()",
            "testCases": [{"input": "", "expected": "a\nb"}],
        }
    )
    assert job["verdict"] == "accepted"


def test_syntax_error_is_a_compilation_error_with_the_message(stack: Stack) -> None:
    job = stack.run({"language": "python", "code": "print('unclosed'\n"})
    assert job["verdict"] == "compilation_error"
    assert "SyntaxError" in job["compileOutput"]


def test_runtime_error_reports_exit_code_and_traceback(stack: Stack) -> None:
    job = stack.run({"language": "python", "code": "print('before')\n1 / 0"})
    assert job["verdict"] == "runtime_error"
    assert job["exitCode"] == 1
    assert "ZeroDivisionError" in job["error"]
    assert job["output"] == "before\n"


def test_infinite_loop_is_stopped_at_its_time_limit(stack: Stack) -> None:
    job = stack.run(
        {
            "language": "python",
            "code": "while True:\n    pass",
            "limits": {"cpuTimeMs": 1000, "wallTimeMs": 2000},
        }
    )
    assert job["verdict"] == "time_limit_exceeded"
    assert job["wallTime"] < 5000


def test_sleeping_past_the_wall_limit_is_stopped(stack: Stack) -> None:
    job = stack.run(
        {
            "language": "python",
            "code": "import time\ntime.sleep(30)",
            "limits": {"wallTimeMs": 1000},
        }
    )
    assert job["verdict"] == "time_limit_exceeded"


SOCKET_PROBE = """
import socket
for target in [("1.1.1.1", 53), ("127.0.0.1", 6379), ("127.0.0.1", 80)]:
    try:
        socket.create_connection(target, timeout=1)
        print("connected", target)
    except OSError as exc:
        print("refused", target, type(exc).__name__)
try:
    socket.getaddrinfo("example.com", 80)
    print("resolved")
except OSError:
    print("no dns")
"""


def test_code_cannot_open_a_network_connection(stack: Stack) -> None:
    job = stack.run({"language": "python", "code": SOCKET_PROBE})
    assert job["verdict"] == "accepted"
    assert "connected" not in job["output"]
    assert job["output"].count("refused") == 3
    assert "no dns" in job["output"]


WRITE_PROBE = """
import os
for path in ["/usr/pwned", "/etc/pwned", "/pwned", "/proc/pwned", "/box/../usr/lib/pwned"]:
    try:
        open(path, "w").write("x")
        print("wrote", path)
    except OSError as exc:
        print("refused", path, type(exc).__name__)
open("/tmp/mine", "w").write("ok")
open("mine.txt", "w").write("ok")
print("own files", open("/tmp/mine").read(), open("mine.txt").read())
"""


def test_code_cannot_write_outside_its_box(stack: Stack) -> None:
    job = stack.run({"language": "python", "code": WRITE_PROBE})
    assert "wrote" not in job["output"], job["output"]
    assert job["output"].count("refused") == 5
    assert "own files ok ok" in job["output"]


ENV_PROBE = """
import os
print(sorted(os.environ))
print(os.getuid(), os.getgid())
"""


def test_code_sees_a_clean_environment_and_an_unprivileged_uid(stack: Stack) -> None:
    job = stack.run({"language": "python", "code": ENV_PROBE})
    names_line, ids_line = job["output"].splitlines()
    assert "REDIS_URL" not in names_line and "SENTINEL" not in names_line
    assert "NODE_EXTRA_CA_CERTS" not in names_line
    assert ids_line == "65534 65534"


def test_a_file_left_by_one_test_case_is_gone_for_the_next(stack: Stack) -> None:
    code = (
        "import os\n"
        "print(os.path.exists('/tmp/left') or os.path.exists('left'))\n"
        "open('/tmp/left', 'w').write('x'); open('left', 'w').write('x')"
    )
    job = stack.run(
        {"language": "python", "code": code, "testCases": [{"input": ""}, {"input": ""}]}
    )
    assert [case["actualOutput"] for case in job["testCases"]] == ["False\n", "False\n"]


def test_one_languages_backlog_does_not_delay_another(stack: Stack) -> None:
    """Six python jobs that each sleep 2 s fill python's slots and its deliveries in flight; a
    bash hello sent after them is answered while they are all still running (each language has
    its own slots and threads on the one executor)."""
    sleeper = {
        "language": "python",
        "code": "import time\ntime.sleep(2)",
        "limits": {"wallTimeMs": 10000},
    }
    pythons = [stack.submit(sleeper)["id"] for _ in range(6)]
    bash = stack.run({"language": "bash", "code": "echo hello"}, timeout_s=60)
    assert bash["output"] == "hello\n", bash
    statuses = [
        requests.get(f"{stack.url}/job/{job}", headers=stack.headers, timeout=10).json()["status"]
        for job in pythons
    ]
    assert "completed" not in statuses, statuses
    for job in pythons:
        assert stack.wait(job)["verdict"] == "accepted"
