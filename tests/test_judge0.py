"""The Judge0 CE 1.13.1 surface (/judge0): the official Judge0 Python SDK, unchanged, against
the real `stack`; then the response shapes, encodings, statuses and errors over real HTTP.
Refusals and answers that need no executor are asked of the ingress in-process (`api`,
tests/conftest.py)."""

from __future__ import annotations

import base64
import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import judge0
import pytest
import requests
from flask.testing import FlaskClient
from judge0 import Client, LanguageAlias, Status, Submission

from eventing.settings import EventingSettings
from ingress.app import create_app
from ingress.settings import CompatSettings, IngressSettings
from tests.conftest import Stack

REPO = Path(__file__).resolve().parent.parent

PROGRAMS: dict[str, tuple[LanguageAlias | int, str]] = {
    "python": (LanguageAlias.PYTHON, "print(int(input()) * 2)"),
    # LanguageAlias.CPP is 52 for 1.13.1; 54 is what most clients hard-code: both are served.
    "cpp": (
        LanguageAlias.CPP,
        "#include <iostream>\nint main() { long n; std::cin >> n; std::cout << n * 2 << '\\n'; }",
    ),
    "cpp54": (
        54,
        '#include <cstdio>\nint main() { long n; scanf("%ld", &n); printf("%ld\\n", n * 2); }',
    ),
    "java": (
        LanguageAlias.JAVA,
        "import java.util.Scanner;\npublic class Main { public static void main(String[] a) {"
        " System.out.println(new Scanner(System.in).nextLong() * 2); } }",
    ),
}

DEFAULT_FIELDS = {
    "token",
    "time",
    "memory",
    "stdout",
    "stderr",
    "compile_output",
    "message",
    "status",
}
# Every attribute Judge0 1.13.1 answers for fields=* (its submissions columns, status, language).
ALL_FIELDS = {
    "source_code", "language_id", "stdin", "expected_output", "stdout", "status_id",
    "created_at", "finished_at", "time", "memory", "stderr", "token", "number_of_runs",
    "cpu_time_limit", "cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit",
    "max_processes_and_or_threads", "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit", "max_file_size", "compile_output",
    "exit_code", "exit_signal", "message", "wall_time", "compiler_options",
    "command_line_arguments", "redirect_stderr_to_stdout", "callback_url", "additional_files",
    "enable_network", "status", "language",
}  # fmt: skip


@pytest.fixture(scope="module")
def client(stack: Stack) -> Client:
    """The SDK's generic client (the self-hosted one): base URL = Sentinel's + /judge0."""
    return Client(f"{stack.url}/judge0")


def _post(stack: Stack, body: dict[str, Any], query: str = "wait=true") -> requests.Response:
    return requests.post(f"{stack.url}/judge0/submissions?{query}", json=body, timeout=60)


# --- the official SDK, unchanged -------------------------------------------------------------


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_sdk_runs_a_single_submission_with_and_without_expected_output(
    client: Client, program: str
) -> None:
    language, source = PROGRAMS[program]
    plain = judge0.run(client=client, source_code=source, language=language, stdin="21")
    assert plain.status == Status.ACCEPTED, plain
    assert plain.stdout == "42\n"
    assert plain.time is not None and plain.memory is not None
    assert plain.created_at is not None and plain.finished_at is not None

    judged = judge0.run(
        client=client,
        submissions=Submission(source_code=source, language=language),
        test_cases=("5", "10"),
    )
    assert isinstance(judged, Submission)
    assert judged.status == Status.ACCEPTED, judged
    wrong = judge0.run(
        client=client,
        submissions=Submission(source_code=source, language=language),
        test_cases=("5", "11"),
    )
    assert isinstance(wrong, Submission)
    assert wrong.status == Status.WRONG_ANSWER, wrong
    assert wrong.stdout == "10\n"


@pytest.mark.parametrize("program", ["python", "cpp54", "java"])
def test_sdk_runs_a_batch_through_the_batch_endpoints(client: Client, program: str) -> None:
    language, source = PROGRAMS[program]
    results = judge0.run(
        client=client,
        submissions=Submission(source_code=source, language=language),
        test_cases=[("1", "2"), ("7", "14"), ("3", "5"), ("4", None)],
    )
    assert isinstance(results, list) and len(results) == 4
    assert [r.status for r in results] == [
        Status.ACCEPTED,
        Status.ACCEPTED,
        Status.WRONG_ANSWER,
        Status.ACCEPTED,
    ]
    assert [r.stdout for r in results] == ["2\n", "14\n", "6\n", "8\n"]
    assert len({r.token for r in results}) == 4


def test_sdk_reads_statuses_config_and_languages(client: Client) -> None:
    assert client.version == "1.13.1"
    assert client.config.max_submission_batch_size >= 2
    assert client.is_language_supported(LanguageAlias.PYTHON)
    assert client.is_language_supported(71) and client.is_language_supported(62)
    assert client.get_language(71).name.startswith("Python (3.")
    assert [s["id"] for s in client.get_statuses()] == list(range(1, 15))


# --- shapes as 1.13.1 writes them -----------------------------------------------------------


def test_default_and_all_fields_are_exactly_judge0s(stack: Stack) -> None:
    body = {"source_code": "print(input())", "language_id": 71, "stdin": "hi"}
    default = _post(stack, body)
    assert default.status_code == 201
    assert set(default.json()) == DEFAULT_FIELDS
    token = default.json()["token"]
    everything = requests.get(f"{stack.url}/judge0/submissions/{token}?fields=*", timeout=10)
    got = everything.json()
    assert set(got) == ALL_FIELDS
    assert got["status"] == {"id": 3, "description": "Accepted"}
    assert got["language"]["id"] == 71 and got["language_id"] == 71 and got["status_id"] == 3
    assert isinstance(got["time"], str) and float(got["time"]) >= 0
    assert isinstance(got["memory"], int) and got["memory"] > 0
    assert got["stdout"] == "hi\n" and got["stderr"] is None and got["exit_code"] == 0
    for stamp in ("created_at", "finished_at"):
        assert len(got[stamp]) == 24 and got[stamp].endswith("Z") and got[stamp][19] == "."
    some = requests.get(
        f"{stack.url}/judge0/submissions/{token}?fields=stdout,language_id", timeout=10
    )
    assert some.json() == {"stdout": "hi\n", "language_id": 71}
    bad = requests.get(f"{stack.url}/judge0/submissions/{token}?fields=stdout,nope", timeout=10)
    assert bad.status_code == 400 and bad.json() == {"error": "invalid fields: [nope]"}


def test_no_wait_answers_201_with_the_token_only(api: FlaskClient) -> None:
    answer = api.post("/judge0/submissions", json={"source_code": "print(1)", "language_id": 71})
    assert answer.status_code == 201
    assert set(answer.json) == {"token"}
    uuid.UUID(answer.json["token"])


def test_base64_in_and_out_wraps_lines_at_60_characters_like_ruby(stack: Stack) -> None:
    text = "x" * 100 + "\n"
    source = f"import sys\nsys.stdout.write({text!r})\n"
    answer = _post(
        stack,
        {"source_code": base64.b64encode(source.encode()).decode(), "language_id": 71},
        query="wait=true&base64_encoded=true",
    )
    assert answer.status_code == 201, answer.text
    stdout = answer.json()["stdout"]
    lines = stdout.split("\n")
    assert lines[-1] == "" and all(len(line) == 60 for line in lines[:-2])
    assert 0 < len(lines[-2]) <= 60
    assert base64.b64decode(stdout) == text.encode()


@pytest.mark.parametrize(
    ("language_id", "source", "status", "check"),
    [
        (54, "int main() { return }", 6, "compile_output"),
        (71, "import sys\nsys.exit(3)", 11, "exit_code"),
        (54, "#include <cstdlib>\nint main() { abort(); }", 10, "exit_signal"),
        (71, "while True: pass", 5, "message"),
    ],
)
def test_outcomes_map_to_judge0_statuses(
    stack: Stack, language_id: int, source: str, status: int, check: str
) -> None:
    body = {"source_code": source, "language_id": language_id, "cpu_time_limit": 1}
    got = _post(stack, body, query="wait=true&fields=*").json()
    assert got["status"]["id"] == status, got
    assert got[check]
    if status == 11:
        assert got["exit_code"] == 3 and got["message"] == "Exited with error status 3"
    if status == 10:
        assert got["exit_signal"] == 6


def test_validation_errors_are_422_by_field(api: FlaskClient) -> None:
    answer = api.post(
        "/judge0/submissions?wait=true",
        json={"language_id": 9999, "cpu_time_limit": 1000, "enable_network": True},
    )
    assert answer.status_code == 422
    assert answer.json == {
        "source_code": ["can't be blank"],
        "language_id": ["language with id 9999 doesn't exist"],
        "cpu_time_limit": ["must be less than or equal to 15"],
        "enable_network": ["this option cannot be enabled"],
    }


def test_unknown_tokens_are_404_alone_and_null_in_a_batch(stack: Stack) -> None:
    missing = str(uuid.uuid4())
    alone = requests.get(f"{stack.url}/judge0/submissions/{missing}", timeout=10)
    assert alone.status_code == 404 and set(alone.json()) == {"error"}
    token = _post(stack, {"source_code": "print(1)", "language_id": 71}).json()["token"]
    batch = requests.get(
        f"{stack.url}/judge0/submissions/batch?tokens={token},{missing}&fields=token", timeout=10
    )
    assert batch.json() == {"submissions": [{"token": token}, None]}


def test_a_batch_answers_tokens_and_errors_in_order(api: FlaskClient) -> None:
    answer = api.post(
        "/judge0/submissions/batch",
        json={
            "submissions": [
                {"source_code": "print(1)", "language_id": 71},
                {"source_code": "print(1)", "language_id": 1},
            ]
        },
    )
    assert answer.status_code == 201
    first, second = answer.json
    assert set(first) == {"token"}
    assert second == {"language_id": ["language with id 1 doesn't exist"]}
    empty = api.post("/judge0/submissions/batch", json={})
    assert empty.status_code == 400 and "at least one" in empty.json["error"]


def _zip(files: dict[str, bytes]) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return base64.b64encode(buffer.getvalue()).decode()


def test_additional_files_are_unzipped_beside_the_source(stack: Stack) -> None:
    files = _zip({"helper.py": b"def double(n):\n    return n * 2\n", "data/n.txt": b"21"})
    source = "import helper\nprint(helper.double(int(open('data/n.txt').read())))"
    got = _post(stack, {"source_code": source, "language_id": 71, "additional_files": files}).json()
    assert got["status"]["id"] == 3, got
    assert got["stdout"] == "42\n"


@pytest.mark.parametrize(
    ("files", "complaint"),
    [
        ({"../escape.py": b"x"}, "outside the box"),
        ({"bomb.txt": b"\0" * (10 * 1024 * 1024)}, "extracts to more than"),
        ({f"f{n}.txt": b"" for n in range(100)}, "more than 64 files"),
    ],
)
def test_additional_files_that_escape_or_explode_are_refused(
    api: FlaskClient, files: dict[str, bytes], complaint: str
) -> None:
    body = {"source_code": "print(1)", "language_id": 71, "additional_files": _zip(files)}
    answer = api.post("/judge0/submissions?wait=true", json=body)
    assert answer.status_code == 422
    assert complaint in answer.json["additional_files"][0]


def test_statuses_config_and_about_are_judge0s(stack: Stack) -> None:
    statuses = requests.get(f"{stack.url}/judge0/statuses", timeout=10).json()
    assert len(statuses) == 14
    assert statuses[11] == {"id": 12, "description": "Runtime Error (Other)"}
    about = requests.get(f"{stack.url}/judge0/about", timeout=10).json()
    assert set(about) == {"version", "homepage", "source_code", "maintainer"}
    assert about["version"] == "1.13.1"
    version = requests.get(f"{stack.url}/judge0/version", timeout=10)
    assert version.text == "1.13.1"
    config = requests.get(f"{stack.url}/judge0/config_info", timeout=10).json()
    assert config["max_cpu_time_limit"] == 15.0 and config["enable_network"] is False
    assert isinstance(requests.get(f"{stack.url}/judge0/workers", timeout=10).json(), list)
    assert "CPU(s)" in requests.get(f"{stack.url}/judge0/system_info", timeout=10).json()


def test_command_line_arguments_are_split_like_a_shell(stack: Stack) -> None:
    body = {
        "source_code": "import sys\nprint(sys.argv[1:])",
        "language_id": 71,
        "command_line_arguments": "a 'b c' \"d\"",
    }
    assert _post(stack, body).json()["stdout"] == "['a', 'b c', 'd']\n"


def test_redirect_stderr_to_stdout(stack: Stack) -> None:
    body = {
        "source_code": "import sys\nprint('a')\nsys.stdout.flush()\nprint('b', file=sys.stderr)",
        "language_id": 71,
        "redirect_stderr_to_stdout": True,
    }
    got = _post(stack, body).json()
    assert got["stdout"] == "a\nb\n" and got["stderr"] is None


# --- authentication (no executor needed: the app alone) -----------------------------------------


def test_auth_token_and_user_when_configured(redis_url: str) -> None:
    settings = IngressSettings(
        eventing=EventingSettings(
            redis_url=redis_url,
            key_prefix=f"sentinel-j0auth-{uuid.uuid4().hex[:8]}",
            triggers_path=REPO / "config" / "triggers.yaml",
        ),
        compat=CompatSettings(
            judge0_authn_tokens=frozenset({"let-me-in"}),
            judge0_authz_tokens=frozenset({"admin"}),
        ),
    )
    api = create_app(settings).test_client()
    assert api.get("/judge0/statuses").status_code == 401
    assert api.get("/judge0/statuses", headers={"X-Auth-Token": "wrong"}).status_code == 401
    assert api.get("/judge0/statuses", headers={"X-Auth-Token": "let-me-in"}).status_code == 200
    token = {"X-Auth-Token": "let-me-in"}
    assert api.get("/judge0/system_info", headers=token).status_code == 403
    both = {**token, "X-Auth-User": "admin"}
    assert api.get("/judge0/system_info", headers=both).status_code == 200
