"""Load through HTTP with wrk, a load generator in C, with every answer checked.

Why wrk rather than Python threads: a `requests` client spends about as much CPU per request as
the service's own ingress does, on the same 2 cores, so a Python client measures itself too.
wrk's Lua hooks check each answer (status 200 and the expected output in the body); only good
answers count towards the throughput, and bad ones are reported beside it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

# `BODY` is a JSON text; with `NONCE` in it, each request replaces it with a fresh token, so
# every request is a new submission (a compile that no cache has seen).
_SCRIPT = """
local threads = {}
local counter = 0
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  good = 0
  bad = 0
  last_bad = ""
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%(body)s]==]
local fresh = %(fresh)s
function request()
  if not fresh then return wrk.format(nil, nil, nil, wrk.body) end
  counter = counter + 1
  local nonce = string.format("%%d_%%d_%%d", tid, counter, math.random(1, 1000000000))
  return wrk.format(nil, nil, nil, (string.gsub(wrk.body, "NONCE", nonce)))
end
function response(status, headers, body)
  if status == 200 and string.find(body, [==[%(expect)s]==], 1, true) then
    good = good + 1
  else
    bad = bad + 1
    last_bad = string.sub(tostring(status) .. " " .. body, 1, 300)
  end
end
function done(summary, latency, requests)
  local g, b, why = 0, 0, ""
  for _, t in ipairs(threads) do
    g = g + t:get("good")
    b = b + t:get("bad")
    if t:get("last_bad") ~= "" then why = t:get("last_bad") end
  end
  io.write(string.format("SENTINEL-WRK %%d %%d %%d %%d %%d\\n", g, b,
    latency:percentile(50), latency:percentile(95), summary.duration))
  io.write("SENTINEL-WRK-BAD " .. why .. "\\n")
end
"""


def available() -> bool:
    """Whether wrk is installed (the bench session installs it: noxfile.py)."""
    return shutil.which("wrk") is not None


def load(
    url: str,
    body: dict[str, Any],
    expect: str,
    *,
    connections: int,
    seconds: int,
    fresh: bool = False,
) -> dict[str, Any]:
    """POST `body` to `url` from `connections` connections for `seconds`; good answers per
    second (status 200 with `expect` in the body), p50 and p95 in ms, and how many were bad."""
    wrk = shutil.which("wrk")
    assert wrk is not None, "wrk not found: install the Debian package wrk"
    text = json.dumps(body)
    script = Path(tempfile.mkdtemp(prefix="bench-wrk-")) / "post.lua"
    script.write_text(
        _SCRIPT % {"body": text, "expect": expect, "fresh": "true" if fresh else "false"}
    )
    done = subprocess.run(
        [
            wrk,
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "60s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    found = re.search(r"^SENTINEL-WRK (\d+) (\d+) (\d+) (\d+) (\d+)$", done.stdout, re.M)
    assert found is not None, done.stdout + done.stderr
    good, bad, p50_us, p95_us, duration_us = (int(v) for v in found.groups())
    why = re.search(r"^SENTINEL-WRK-BAD (.*)$", done.stdout, re.M)
    return {
        "connections": connections,
        "seconds": round(duration_us / 1e6, 2),
        "good": good,
        "bad": bad,
        "bad_example": why.group(1) if why and bad else "",
        "per_s": round(good / (duration_us / 1e6), 1),
        "p50_ms": round(p50_us / 1000, 1),
        "p95_ms": round(p95_us / 1000, 1),
    }
