"""redis-py with hiredis (its C reply parser, a dependency since 2026-12-02) against without it:
the client's CPU per command, side by side in one run (`./nox.sh -s bench -- redis`).

Each side is a child Python timing the commands a job costs the ingress, dispatcher and sink
(a MULTI of XADD and HINCRBY, XREADGROUP of one entry, HGETALL of a job-sized record, PING) by its
own CPU time, against one embedded-style redis-server started here. Without hiredis means the
child finds a `hiredis` package on its path that refuses to import, which is how redis-py decides
to use its Python parser. Rounds alternate; results in docs/bench/redis_parser.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sentinel.serve import free_port

OUT = Path(__file__).resolve().parents[1] / "docs" / "bench" / "redis_parser.json"
ROUNDS = 5

_MEASURE = """
import json, sys, time
import redis
from redis.utils import HIREDIS_AVAILABLE
r = redis.Redis(port=int(sys.argv[1]))
r.delete("b:s", "b:h")
r.hset("b:h", mapping={f"field{i}": "v" * 60 for i in range(12)})
r.xgroup_create("b:s", "g", id="0", mkstream=True)
def pipeline():
    p = r.pipeline(transaction=True)
    p.xadd("b:s", {"event": b"x" * 600})
    p.hincrby("b:h", "n", 1)
    p.execute()
def xreadgroup():
    r.xreadgroup("g", "c", {"b:s": ">"}, count=1)
commands = {"MULTI XADD HINCRBY EXEC": pipeline, "XREADGROUP (one entry)": xreadgroup,
            "HGETALL (12 fields)": lambda: r.hgetall("b:h"), "PING": r.ping}
found = {"hiredis": HIREDIS_AVAILABLE}
for name, command in commands.items():
    for _ in range(100):
        command()
    started = time.process_time()
    for _ in range(2000):
        command()
    found[name] = (time.process_time() - started) / 2000 * 1e6
print(json.dumps(found))
"""


def _side(port: int, hide: Path | None) -> dict[str, float]:
    env = dict(os.environ)
    if hide is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hide), env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(port)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found: dict[str, float] = json.loads(out)
    return found


def main() -> None:
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        with tempfile.TemporaryDirectory() as hide:
            (Path(hide) / "hiredis").mkdir()
            (Path(hide) / "hiredis" / "__init__.py").write_text("raise ImportError('hidden')\n")
            sides: dict[str, list[dict[str, float]]] = {"with hiredis": [], "without": []}
            for _ in range(ROUNDS):
                sides["with hiredis"].append(_side(port, None))
                sides["without"].append(_side(port, Path(hide)))
    finally:
        server.terminate()
        server.wait()
    assert all(r["hiredis"] for r in sides["with hiredis"]), "hiredis is not installed"
    assert not any(r["hiredis"] for r in sides["without"])
    names = [k for k in sides["with hiredis"][0] if k != "hiredis"]
    medians = {
        side: {n: round(statistics.median(r[n] for r in rounds), 1) for n in names}
        for side, rounds in sides.items()
    }
    report = {"machine": platform.platform(), "rounds": ROUNDS, "cpu_us_per_command": medians}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print("| command | without hiredis, µs | with hiredis, µs |")
    print("|---|---|---|")
    for name in names:
        print(f"| {name} | {medians['without'][name]} | {medians['with hiredis'][name]} |")


if __name__ == "__main__":
    main()
