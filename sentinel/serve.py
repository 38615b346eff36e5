"""Sentinel on one machine: Redis (embedded unless REDIS_URL is set), then the broker ingress, the
executor (K_SINK pointing at the broker ingress, as a Knative SinkBinding would set it), the sink,
the callbacks deliverer, the dispatcher and the ingress, each its own process, each waited for
until healthy: Redis first, then the others side by side (the ingress is ready once they are).

A child that dies is started again as it was (same command, environment and port) after a backoff
that doubles with each exit in a minute; Redis comes back with its data (append-only file, written
before each answer, so no accepted job is lost to a crash of any process). The supervisor logs each
restart as a JSON line and keeps them in DATA_DIR/logs/supervisor.json, which GET /health shows. It
exits only on Ctrl-C (or SIGTERM), or when a child exits more than MAX_RESTARTS times in a minute.
Stopping signals the services at once and Redis last, gracefully first, then by force; each
child is in its own process group with a parent-death signal, so nothing is left behind even when
this supervisor is killed outright.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from eventing import logs
from sentinel import cgroup_delegation, executor_identity
from sentinel.executor_identity import ExecutorIdentity
from sentinel.settings import ServeSettings

REPO = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1
# A child that exits is started again after BACKOFF_S, doubled for each exit within
# RESTART_WINDOW_S (at most BACKOFF_MAX_S); one that exits more than MAX_RESTARTS times within
# the window cannot stay up, and the supervisor stops everything.
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0
RESTART_WINDOW_S = 60.0
MAX_RESTARTS = 5
# The file (in the log directory) where the supervisor keeps its children's restarts; every
# child finds it in this variable, and the ingress's GET /health shows it (ingress/health.py).
STATE_ENV = "SENTINEL_SUPERVISOR_STATE"


@dataclass
class Child:
    """A service process, how it was started, and how to tell that it is ready."""

    name: str
    process: subprocess.Popen[bytes]
    ready: Callable[[], bool]
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 60
    restarts: int = 0
    # When it exited, within the last RESTART_WINDOW_S (monotonic seconds).
    exits: list[float] = field(default_factory=list)
    last_exit: int | None = None
    last_restart: str | None = None
    identity: ExecutorIdentity | None = None  # the executor's user and groups
    up: bool = False  # seen ready once (Supervisor.wait_ready)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor goes away, and a group of its own."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgid(0, 0)


def _http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    return check


def _redis_ok(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    return check


class Supervisor:
    """Starts the children in order, restarts one that dies (with backoff), stops them in
    reverse."""

    def __init__(self, log_dir: Path, quiet: bool) -> None:
        self.children: list[Child] = []
        # Where the HTTP services listen, by name ("broker": the broker ingress).
        self.urls: dict[str, str] = {}
        self.log_dir = log_dir
        self.quiet = quiet
        # Run after every child has stopped (the executor's groups and work directory).
        self.cleanups: list[Callable[[], None]] = []
        self.state_path = log_dir / "supervisor.json"

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        ready: Callable[[], bool],
        timeout_s: float = 60,
        identity: ExecutorIdentity | None = None,
        *,
        wait: bool = True,
    ) -> None:
        """Start `argv` and wait until `ready()`; raise if it dies or times out first.
        With `identity`, the child runs as its user and joins its cgroups before exec (also
        when it is restarted). With `wait=False` it is only started: `wait_ready` then waits
        for it and every other child started so, which lets services that do not need each
        other import and come up side by side (each Python service takes 1-3 s to be ready)."""
        env = {**env, STATE_ENV: str(self.state_path)}
        process = self._spawn(name, argv, env, identity)
        child = Child(name, process, ready, argv, env, timeout_s, identity=identity)
        self.children.append(child)
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until every child started is ready, in the order they were started; raise for
        the first that dies or times out (the caller then stops them all)."""
        for child in self.children:
            if child.up:
                continue
            self._wait_ready(child)
            child.up = True
            self._write_state()
            print(f"  {child.name:<10} ready (pid {child.process.pid})", flush=True)

    def _spawn(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        identity: ExecutorIdentity | None = None,
    ) -> subprocess.Popen[bytes]:
        output = (self.log_dir / f"{name}.log").open("ab") if self.quiet else None
        switch: dict[str, Any] = {}
        preexec = _die_with_parent
        if identity is not None and identity.uid is not None:
            switch = {"user": identity.uid, "group": identity.gid, "extra_groups": []}

            def preexec() -> None:
                identity.join()
                _die_with_parent()

        return subprocess.Popen(
            argv,
            env=env,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            preexec_fn=preexec,
            **switch,
        )

    def _wait_ready(self, child: Child) -> None:
        deadline = time.monotonic() + child.timeout_s
        while not child.ready():
            if child.process.poll() is not None:
                raise RuntimeError(
                    f"{child.name} exited with {child.process.returncode} while starting"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{child.name} was not healthy within {child.timeout_s:.0f}s")
            time.sleep(0.1)

    def watch(self, stopping: Callable[[], bool]) -> str | None:
        """Block until asked to stop, restarting each child that dies; the name of a child that
        could not stay up (then the caller stops everything), or None when asked to stop."""
        while not stopping():
            for child in self.children:
                if child.process.poll() is not None and not self._restart(child, stopping):
                    return child.name
            time.sleep(0.2)
        return None

    def _restart(self, child: Child, stopping: Callable[[], bool]) -> bool:
        """Start a dead child again after its backoff, as it was started (same command, same
        environment, so the same port); False when it exits too often to go on."""
        while True:
            now = time.monotonic()
            child.exits = [t for t in child.exits if now - t < RESTART_WINDOW_S] + [now]
            child.last_exit = child.process.returncode
            if len(child.exits) > MAX_RESTARTS:
                self._log(
                    "error",
                    "child cannot stay up",
                    child=child.name,
                    exits=len(child.exits),
                    window_s=RESTART_WINDOW_S,
                )
                return False
            delay = min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (len(child.exits) - 1))
            self._log(
                "warning",
                "child exited; restarting",
                child=child.name,
                code=child.last_exit,
                restart_in_s=delay,
            )
            _signal_group(child.process, signal.SIGKILL)  # what it left behind in its group
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline:
                if stopping():
                    return True
                time.sleep(0.1)
            child.process = self._spawn(child.name, child.argv, child.env, child.identity)
            try:
                self._wait_ready(child)
            except RuntimeError as exc:
                self._log("warning", "restart failed", child=child.name, error=str(exc))
                if child.process.poll() is None:
                    _signal_group(child.process, signal.SIGKILL)
                    child.process.wait()
                continue
            child.restarts += 1
            child.last_restart = datetime.now(UTC).isoformat(timespec="seconds")
            self._write_state()
            self._log(
                "info",
                "child restarted",
                child=child.name,
                pid=child.process.pid,
                restarts=child.restarts,
            )
            return True

    def _write_state(self) -> None:
        """Each child's pid and restarts, for GET /health (written whole, then renamed)."""
        state = {
            "children": {
                child.name: {
                    "pid": child.process.pid,
                    "restarts": child.restarts,
                    "lastExitCode": child.last_exit,
                    "lastRestartAt": child.last_restart,
                }
                for child in self.children
            }
        }
        partial = self.state_path.with_suffix(".tmp")
        partial.write_text(json.dumps(state))
        partial.replace(self.state_path)

    def _log(self, level: str, message: str, **fields: object) -> None:
        """One JSON line on stderr, in the shape of every service's (eventing/logs.py)."""
        print(logs.json_line("supervisor", level, message, **fields), file=sys.stderr, flush=True)

    def stop(self, grace_s: float = 10) -> None:
        """SIGTERM every service's group at once, then Redis's (the services finish what they
        hold and may write it there); SIGKILL whatever outlives the grace. At once, because
        each stops gracefully in 0.4-1.2 s (gunicorn's workers, the dispatcher's last read)
        and one after the other that was 5 s: an executor finishing its job in flight still
        answers it, and a delivery cut off stays pending in its stream (eventing/dispatcher.py)."""
        last = [c for c in self.children if c.name == "redis"]
        first = [c for c in reversed(self.children) if c.name != "redis"]
        for wave in (first, last):
            for child in wave:
                _signal_group(child.process, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            for child in wave:
                try:
                    child.process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _signal_group(child.process, signal.SIGKILL)
                    child.process.wait()
                _signal_group(child.process, signal.SIGKILL)  # stragglers in the group
        self.children.clear()
        for cleanup in self.cleanups:
            cleanup()
        self.cleanups.clear()


def _scratch_in_memory(uid: int | None, gid: int | None) -> Path | None:
    """A private directory in /dev/shm for the executor's per-job directories, when /dev/shm is
    a tmpfs (functions/settings.py `scratch_dir` says why); None where it is not."""
    shm = Path("/dev/shm")
    try:
        mounted = any(
            line.split()[1:3] == [str(shm), "tmpfs"]
            for line in Path("/proc/mounts").read_text().splitlines()
        )
        if not mounted:
            return None
        scratch = Path(tempfile.mkdtemp(prefix="sentinel-jobs-", dir=shm))
        if uid is not None and gid is not None:
            os.chown(scratch, uid, gid)
    except OSError:
        return None
    return scratch


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def local_service_urls(
    triggers_path: Path, executor: str, sink: str, callbacks: str | None = None
) -> str:
    """SENTINEL_SERVICE_URLS for one machine: every `executor-<language>` ref in the triggers
    goes to the one local executor (it serves every installed language), `sink` to the sink."""
    names = set()
    for doc in yaml.safe_load_all(triggers_path.read_text()):
        if isinstance(doc, dict):
            for destination in (
                (doc.get("spec") or {}).get("subscriber", {}),
                ((doc.get("spec") or {}).get("delivery") or {}).get("deadLetterSink", {}),
            ):
                ref = (destination or {}).get("ref") or {}
                if ref.get("name"):
                    names.add(ref["name"])
    urls = {name: executor for name in names if name.startswith("executor-")}
    urls["sink"] = sink
    if callbacks:
        urls["callbacks"] = callbacks
    return ",".join(f"{name}={url}" for name, url in sorted(urls.items()))


def start_stack(
    supervisor: Supervisor, base_env: dict[str, str], host: str, port: int, data_dir: Path
) -> str:
    """Start Redis (unless REDIS_URL), broker ingress, executor, sink, dispatcher and ingress;
    the API's URL.

    The same function serves `nox -s serve` and the test suite, so the tests run what a user runs.
    """
    env = {k: v for k, v in base_env.items() if k != "PORT"}
    env["SENTINEL_HOST"] = "127.0.0.1"
    own = ServeSettings.from_mapping(env)
    python = sys.executable
    if not own.redis_url:
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise RuntimeError(
                "redis-server not found: install the Debian package redis-server, or set REDIS_URL"
            )
        redis_port = free_port()
        redis_dir = data_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        supervisor.start(
            "redis",
            [
                redis_server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--dir",
                str(redis_dir),
                "--appendonly",
                "yes",
                # Fsynced before each answer by default: nothing accepted is lost
                # (sentinel/settings.py `redis_appendfsync` says what the others risk).
                "--appendfsync",
                own.redis_appendfsync,
                "--save",
                "",
                # Bounded, and never evicting: a full Redis refuses writes (the API answers
                # 503) rather than drop queued work or results.
                "--maxmemory",
                own.redis_maxmemory,
                "--maxmemory-policy",
                "noeviction",
            ],
            env,
            _redis_ok(redis_port),
        )
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    executor_port, sink_port, broker_port = free_port(), free_port(), free_port()
    callbacks_port = free_port()
    env["SENTINEL_SERVICE_URLS"] = local_service_urls(
        own.triggers_path,
        executor=f"http://127.0.0.1:{executor_port}",
        sink=f"http://127.0.0.1:{sink_port}",
        callbacks=f"http://127.0.0.1:{callbacks_port}",
    )
    broker = supervisor.urls["broker"] = f"http://127.0.0.1:{broker_port}"
    supervisor.start(
        "broker",
        [python, "-m", "eventing.broker_ingress"],
        {**env, "PORT": str(broker_port)},
        _http_ok(f"{broker}/health"),
        wait=False,
    )
    executor = executor_identity.prepare(REPO, data_dir, env)
    supervisor.cleanups.append(executor.release)
    # On a cgroup-v2 host, a subtree of its own for the executor's per-run groups: the prefix
    # starts as root, joins the group and becomes the executor's user itself
    # (sentinel/cgroup_delegation.py); on v1, the supervisor's groups and uid switch do.
    owner = None
    if executor.uid is not None and executor.gid is not None:
        owner = (executor.uid, executor.gid)
    group = cgroup_delegation.executor_group(owner=owner)
    for said in (executor.reason, executor.cgroup_reason if not group.prefix else ""):
        if said:
            print(f"  executor   {said}", flush=True)
    executor_env = {**env, **executor.env, "PORT": str(executor_port), "K_SINK": broker}
    if executor.work_dir is not None:
        executor_env["SENTINEL_WORK_DIR"] = str(executor.work_dir)
    if not executor_env.get("SENTINEL_SCRATCH_DIR"):
        scratch = _scratch_in_memory(executor.uid, executor.gid)
        if scratch is not None:
            executor_env["SENTINEL_SCRATCH_DIR"] = str(scratch)
            supervisor.cleanups.append(lambda: shutil.rmtree(scratch, ignore_errors=True))
    supervisor.start(
        "executor",
        [*group.prefix, executor.python, "-m", "functions"],
        executor_env,
        _http_ok(f"http://127.0.0.1:{executor_port}/health"),
        identity=None if group.prefix else executor,
        wait=False,
    )
    supervisor.start(
        "sink",
        [python, "-m", "eventing.sink"],
        {**env, "PORT": str(sink_port)},
        _http_ok(f"http://127.0.0.1:{sink_port}/health"),
        wait=False,
    )
    supervisor.start(
        "callbacks",
        [python, "-m", "eventing.callbacks"],
        {**env, "PORT": str(callbacks_port)},
        _http_ok(f"http://127.0.0.1:{callbacks_port}/health"),
        wait=False,
    )
    supervisor.start(
        "dispatcher", [python, "-m", "eventing.dispatcher"], env, lambda: True, wait=False
    )
    url = f"http://{host}:{port}"
    # Its readiness is theirs (ingress/health.py probes them again soon while one is down).
    supervisor.start(
        "ingress",
        [python, "-m", "ingress"],
        {**env, "SENTINEL_HOST": host, "SENTINEL_PORT": str(port)},
        _http_ok(f"{url}/health"),
    )
    return url


def main(argv: list[str] | None = None) -> int:
    """Bring Sentinel up on this machine and keep it up until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__)
    own = ServeSettings.from_env()
    parser.add_argument("--host", default=own.host)
    parser.add_argument("--port", type=int, default=own.port)
    parser.add_argument("--data-dir", type=Path, default=own.data_dir)
    parser.add_argument("--quiet", action="store_true", help="services log to DATA_DIR/logs")
    args = parser.parse_args(argv)

    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    log_dir = args.data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(log_dir, args.quiet)
    try:
        # The services get this process's environment (their settings are read from it).
        url = start_stack(supervisor, dict(os.environ), args.host, args.port, args.data_dir)
        print(
            f"\nSentinel is up at {url}  (Ctrl-C stops everything)\n\nTry:\n"
            f"  curl -s -X POST {url}/api/execute -H 'Content-Type: application/json' \\\n"
            '    -d \'{"language": "python", "code": "print(int(input()) * 2)", '
            '"input": "21"}\'\n'
            f"  curl -s {url}/job/<id from the answer above>\n",
            flush=True,
        )
        dead = supervisor.watch(lambda: stop_requested)
        if dead:
            print(f"{dead} could not stay up; stopping everything", file=sys.stderr)
            return 1
        return 0
    except RuntimeError as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping...", flush=True)
        supervisor.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
