"""The images, built with podman, run as config/base's manifests run them in a pod.

What a pod imposes is read from the manifests themselves (tests/pod_manifest.py): uid 10001,
every capability dropped, no_new_privs, a read-only root, the seccomp profile the manifest
names (the executors': config/seccomp/sentinel-executor.json), the runtime's default masked
/proc, the memory and CPU limits, emptyDir volumes. The images are built from the Dockerfiles
unchanged (scripts/podman-images.sh: a debootstrapped Debian base tagged as their FROM, since
no registry can be reached here); podman's layer cache keeps a second run short.

Shown here: the executor under its securityContext runs every kind of program with the static
/proc of functions/procfs.py and holds a stranger's code (the executor's canary is nowhere, no
sysctl is writable, no socket but AF_UNIX, fork and memory bombs end in verdicts); under
containerd's RuntimeDefault instead it is not ready and says why, and a job meets a 503, never
a verdict; and the whole stack in one pod takes a job from the HTTP API to its result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sentinel.serve import free_port
from tests.conftest import CANARY
from tests.pod_manifest import manifest, podman_args, runtime_default_profile

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "podman-images.sh"
IMAGES = (
    "executor-python",
    "executor-cpp",
    "executor-java",
    "ingress",
    "sink",
    "dispatcher",
    "broker-ingress",
)
REDIS_PASSWORD = "pod-test-password"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def _memory_cgroup() -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "memory":
            return path
    return ""


PARENT = f"{_memory_cgroup()}/sentinel-pod-test"


def podman(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), "podman", *args],
        capture_output=True, text=True, timeout=timeout, check=check,
    )  # fmt: skip


@pytest.fixture(scope="module")
def images() -> Iterator[None]:
    if os.geteuid() != 0:
        pytest.skip("podman images are built as root here (debootstrap, rootful storage)")
    done = subprocess.run(
        ["bash", str(SCRIPT), "build", *IMAGES], capture_output=True, text=True, timeout=1200,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    yield


@pytest.fixture(scope="module")
def runtime_default(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runtime_default_profile(tmp_path_factory.mktemp("seccomp") / "runtime-default.json")


class Container:
    """One container started from a manifest's flags; removed at the end."""

    def __init__(
        self, name: str, image: str, args: list[str], command: tuple[str, ...] = ()
    ) -> None:
        self.name = f"sentinel-pod-{name}-{uuid.uuid4().hex[:6]}"
        started = podman(
            "run", "-d", "--name", self.name, f"--cgroup-parent={PARENT}", *args, image, *command,
            check=False,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr

    def logs(self) -> str:
        return podman("logs", self.name, check=False).stderr[-3000:]

    def running(self) -> bool:
        state = podman("inspect", "-f", "{{.State.Running}}", self.name, check=False).stdout
        return state.strip() == "true"

    def remove(self) -> None:
        podman("rm", "-f", "-t", "0", self.name, check=False)


def _executor(
    language: str, runtime_default: Path, *, seccomp: str | None = None
) -> tuple[Container, str]:
    args = podman_args(manifest(f"executor-{language}"), runtime_default=runtime_default)
    if seccomp is not None:
        index = next(i for i, a in enumerate(args) if a.startswith("seccomp="))
        args[index] = f"seccomp={seccomp}"
    port = free_port()
    args += ["-e", f"SENTINEL_TEST_CANARY={CANARY}", "-p", f"127.0.0.1:{port}:8080"]
    container = Container(language, f"localhost/sentinel/executor-{language}:latest", args)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/health", timeout=2)
            return container, url
        except requests.ConnectionError:
            assert container.running(), container.logs()
            time.sleep(0.3)
    raise AssertionError(container.logs())


def _ready(url: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        health = requests.get(f"{url}/health", timeout=5)
        if health.status_code == 200 or time.monotonic() > deadline:
            return {"status_code": health.status_code, **health.json()}
        time.sleep(0.3)


def submit(url: str, language: str, code: str, stdin: str = "", **limits: int) -> requests.Response:
    """One job as a binary-mode CloudEvent, as the dispatcher delivers it (functions/app.py)."""
    job = uuid.uuid4().hex
    body: dict[str, Any] = {"id": job, "language": language, "code": code, "input": stdin}
    if limits:
        body["limits"] = limits
    headers = {
        "Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": job,
        "ce-type": "dev.sentinel.execution.requested", "ce-source": "/tests/pod",
        "ce-subject": job, "ce-language": language,
    }  # fmt: skip
    return requests.post(url, data=json.dumps(body), headers=headers, timeout=120)


def result_of(url: str, language: str, code: str, stdin: str = "", **limits: int) -> dict[str, Any]:
    answer = submit(url, language, code, stdin, **limits)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


CANARY_HUNT = (
    r"""import os
found = []
for path in ['/proc/1/environ', '/proc/self/environ', '/proc/2/environ']:
    try:
        found.append(open(path, 'rb').read())
    except OSError as e:
        found.append(('refused', path, e.errno))
print(os.environ.get('SENTINEL_TEST_CANARY'), found)
wanted = '"""
    + CANARY[::-1]
    + r"""'[::-1].encode()  # not in this source as it is
for top in ['/proc', '/tmp', '/box', '/etc']:  # /dev: reading ptmx blocks
    for root, dirs, files in os.walk(top):
        for name in files:
            try:
                if wanted in open(os.path.join(root, name), 'rb').read(1 << 20):
                    print('FOUND IN', os.path.join(root, name))
            except OSError:
                pass
"""
)

HOSTILE_PYTHON = {
    "sysctl": (
        "try:\n    open('/proc/sys/kernel/core_pattern', 'w').write('|/bin/sh')\n"
        "    print('WROTE')\n"
        "except OSError as e:\n    print('refused', e.errno)"
    ),
    "sockets": (
        "import socket\nfor f in ('AF_INET', 'AF_INET6', 'AF_VSOCK', 'AF_NETLINK', 'AF_PACKET'):\n"
        "    try:\n        socket.socket(getattr(socket, f), socket.SOCK_DGRAM)\n"
        "        print('OPENED', f)\n"
        "    except OSError as e:\n        print('refused', f)"
    ),
    "fork-bomb": (
        "import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
        "            time.sleep(20)\n            os._exit(0)\n        n += 1\n"
        "except OSError as e:\n"
        "    print('forks', n)"
    ),
    "memory-bomb": "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))",
}


@pytest.fixture(scope="module")
def python_executor(images: None, runtime_default: Path) -> Iterator[str]:
    container, url = _executor("python", runtime_default)
    try:
        yield url
    finally:
        container.remove()


def test_the_executor_is_ready_under_its_manifests_security_context(python_executor: str) -> None:
    health = _ready(python_executor)
    assert health["status_code"] == 200, health
    # A pod's /proc is masked and its cgroup filesystem read-only: the static /proc, rlimits.
    assert (health["proc"], health["limits"], health["user"]) == ("static", "rlimit", 10001)


def test_a_strangers_program_finds_nothing_of_the_executor(python_executor: str) -> None:
    hello = result_of(python_executor, "python", "print(int(input()) * 2)", "21")
    assert (hello["verdict"], hello["output"]) == ("accepted", "42\n"), hello
    hunt = result_of(python_executor, "python", CANARY_HUNT)
    assert hunt["verdict"] == "accepted", hunt
    assert CANARY not in json.dumps(hunt) and "FOUND IN" not in hunt["output"], hunt
    assert hunt["output"].startswith("None [('refused', '/proc/1/environ', 2)"), hunt
    sysctl = result_of(python_executor, "python", HOSTILE_PYTHON["sysctl"])
    assert "WROTE" not in sysctl["output"] and "refused" in sysctl["output"], sysctl
    sockets = result_of(python_executor, "python", HOSTILE_PYTHON["sockets"])
    assert "OPENED" not in sockets["output"] and sockets["output"].count("refused") == 5, sockets


def test_fork_and_memory_bombs_end_in_verdicts_and_the_executor_lives(python_executor: str) -> None:
    forks = result_of(
        python_executor, "python", HOSTILE_PYTHON["fork-bomb"], processes=32, wallTimeMs=8000
    )
    assert forks["verdict"] in {"runtime_error", "time_limit_exceeded", "accepted"}, forks
    if forks["output"].startswith("forks "):
        assert int(forks["output"].split()[1]) <= 32, forks
    memory = result_of(python_executor, "python", HOSTILE_PYTHON["memory-bomb"], memoryMb=128)
    assert memory["verdict"] == "memory_limit_exceeded", memory
    assert _ready(python_executor)["status_code"] == 200


@pytest.mark.parametrize(
    ("language", "code", "output"),
    [
        (
            "java",
            "public class Main { public static void main(String[] a) {"
            ' System.out.println("jvm up"); } }',
            "jvm up\n",
        ),
        ("cpp", '#include <cstdio>\nint main() { std::puts("native up"); }', "native up\n"),
    ],
)
def test_compiled_languages_run_under_their_manifests(
    images: None, runtime_default: Path, language: str, code: str, output: str
) -> None:
    container, url = _executor(language, runtime_default)
    try:
        assert _ready(url, 120)["status_code"] == 200, container.logs()
        result = result_of(url, language, code)
        assert (result["verdict"], result["output"]) == ("accepted", output), result
        bomb = {
            "java": (
                "public class Main { public static void main(String[] a) throws Exception {\n"
                "  java.lang.reflect.Field f =\n"
                '    sun.misc.Unsafe.class.getDeclaredField("theUnsafe");\n'
                "  f.setAccessible(true); sun.misc.Unsafe u = (sun.misc.Unsafe) f.get(null);\n"
                "  for (;;) { long p = u.allocateMemory(32L << 20);\n"
                "    for (long i = 0; i < (32L << 20); i += 4096) u.putByte(p + i, (byte) 1); } } }"
            ),
            "cpp": (
                "#include <cstdlib>\n#include <cstring>\n"
                "int main() { for (;;) { char *p = (char *)malloc(32 << 20); if (!p) return 3;"
                " memset(p, 1, 32 << 20); } }"
            ),
        }[language]
        memory = result_of(url, language, bomb, memoryMb=256)
        assert memory["verdict"] == "memory_limit_exceeded", memory
        assert container.running()
    finally:
        container.remove()


def test_under_runtime_default_the_executor_is_not_ready_and_blames_nobody(
    images: None, runtime_default: Path
) -> None:
    """containerd's RuntimeDefault refuses bwrap's namespaces: readiness fails with bwrap's
    reason, and a job is answered 503 (the broker retries elsewhere), never with a verdict."""
    container, url = _executor("python", runtime_default, seccomp=str(runtime_default))
    try:
        health = _ready(url, 15)
        assert health["status_code"] == 503, health
        assert "namespace" in (health["reason"] or "").lower(), health
        answer = submit(url, "python", "print(1)")
        assert answer.status_code == 503, answer.text
        assert "verdict" not in answer.text
    finally:
        container.remove()


def _redis_image() -> str:
    """Debian's redis-server on the base image (the StatefulSet's redis image cannot be
    pulled here); it runs with the StatefulSet's own securityContext."""
    context = REPO / ".pytest-redis-image"
    context.mkdir(exist_ok=True)
    (context / "Containerfile").write_text(
        "FROM localhost/sentinel/base:latest\nUSER root\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends redis-server"
        " && rm -rf /var/lib/apt/lists/*\nUSER 10001:10001\n"
    )
    try:
        podman(
            "build", f"--cgroup-parent={PARENT}-build-redis", "--network=host",
            "-t", "localhost/sentinel/pod-test-redis:latest", str(context), timeout=600,
        )  # fmt: skip
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return "localhost/sentinel/pod-test-redis:latest"


def test_the_whole_stack_in_one_pod_takes_a_job_through(
    images: None, runtime_default: Path
) -> None:
    redis_image = _redis_image()
    port = free_port()
    pod = f"sentinel-pod-{uuid.uuid4().hex[:6]}"
    podman(
        "pod", "create", "--name", pod, f"--cgroup-parent={PARENT}", "-p", f"127.0.0.1:{port}:8080"
    )
    redis_url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0"
    # One network namespace, as one node's loopback: each service on its own port, the
    # cluster's routing (config/base/triggers.yaml) with its refs resolved to those ports.
    urls = "executor-python=http://127.0.0.1:8081,sink=http://127.0.0.1:8082,callbacks=http://127.0.0.1:8083,broker-ingress=http://127.0.0.1:8084"
    common = [
        "--pod", pod, "-v", f"{REPO}/config/base/triggers.yaml:/etc/sentinel/triggers.yaml:ro",
        "-e", f"REDIS_URL={redis_url}", "-e", f"SENTINEL_SERVICE_URLS={urls}",
    ]  # fmt: skip
    started: list[Container] = []

    def start(name: str, image: str, port_env: str | None, extra: list[str] | None = None) -> None:
        env = {"PORT": port_env} if port_env else {}
        args = podman_args(manifest(name), runtime_default=runtime_default, env=env)
        started.append(Container(name, image, [*common, *args, *(extra or [])]))

    try:
        redis_args = podman_args(manifest("redis"), runtime_default=runtime_default)
        started.append(
            Container(
                "redis",
                redis_image,
                [
                    *redis_args,
                    "--pod",
                    pod,
                    "--entrypoint",
                    "redis-server",
                    "--mount",
                    "type=tmpfs,destination=/data,tmpfs-mode=1777",
                ],
                (
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    "6379",
                    "--dir",
                    "/data",
                    "--save",
                    "",
                    "--requirepass",
                    REDIS_PASSWORD,
                ),
            )
        )
        start("sink", "localhost/sentinel/sink:latest", "8082")
        start("broker-ingress", "localhost/sentinel/broker-ingress:latest", "8084")
        start("dispatcher", "localhost/sentinel/dispatcher:latest", None)
        start("executor-python", "localhost/sentinel/executor-python:latest", "8081",
              ["-e", "K_SINK=http://127.0.0.1:8084"])  # fmt: skip
        start("ingress", "localhost/sentinel/ingress:latest", "8080")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        job: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                answer = requests.post(
                    f"{url}/api/execute?wait=true",
                    json={"language": "python", "code": "print(int(input()) * 2)", "input": "21"},
                    timeout=60,
                )
            except requests.ConnectionError:
                time.sleep(0.5)
                continue
            job = answer.json()
            if job.get("status") in ("completed", "failed"):
                break
            time.sleep(1)
        logs = {c.name: c.logs() for c in started if not c.running()}
        assert (job.get("status"), job.get("verdict"), job.get("output")) == (
            "completed", "accepted", "42\n",
        ), (job, logs)  # fmt: skip
    finally:
        for container in started:
            container.remove()
        podman("pod", "rm", "-f", pod, check=False)
