"""Whether this executor can run a sandbox: proved at start and again after a sandbox failed.

Why: an executor whose sandbox cannot start (a host without user namespaces, a container whose
/proc or seccomp forbids bwrap's setup) must not look healthy; its readiness fails with the
reason, so that nothing is routed to it and the operator reads why. It answers from the state
it holds: a health check never waits for a sandbox.
"""

from __future__ import annotations

import threading

import structlog

from functions import sandbox

log = structlog.get_logger(__name__)
_PROBE = ("/bin/true",)
_LIMITS = sandbox.RunLimits(cpu_ms=2000, wall_ms=10_000, memory_kb=64 * 1024, output_bytes=4096)
RETRY_S = 5.0


class Readiness:
    """The last word on the sandbox: ready, or the reason it is not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready = False
        self._reason = "the sandbox has not been tried yet"
        self._checking = False

    def state(self) -> tuple[bool, str]:
        with self._lock:
            return self._ready, self._reason

    def check_in_background(self, delay_s: float = 0.0) -> None:
        """Run one sandbox (the same path as a job: cgroups, seccomp, limits) off the request
        path; retried every RETRY_S seconds until it works."""
        with self._lock:
            if self._checking:
                return
            self._checking = True
        threading.Thread(target=self._check, args=(delay_s,), daemon=True).start()

    def failed(self, reason: str) -> None:
        """A job met a sandbox that would not start: not ready until a probe works again."""
        with self._lock:
            self._ready, self._reason = False, reason
        self.check_in_background(RETRY_S)

    def _check(self, delay_s: float) -> None:
        stop = threading.Event()
        stop.wait(delay_s)
        while True:
            try:
                outcome = sandbox.run(_PROBE, limits=_LIMITS)
                ok = outcome.exit_code == 0
                reason = "" if ok else f"the probe sandbox exited with {outcome.exit_code}"
            except (sandbox.SandboxUnavailable, OSError) as exc:
                ok, reason = False, str(exc)
            with self._lock:
                self._ready, self._reason = ok, reason
                if ok:
                    self._checking = False
                    return
            log.error("the sandbox cannot run", reason=reason)
            stop.wait(RETRY_S)
