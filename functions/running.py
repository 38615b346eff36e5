"""The jobs this executor is running now, by id: a job delivered again while it runs (the
dispatcher's delivery timed out, or two dispatchers reclaimed it) waits for the run under way
and answers with its result, rather than running the submission a second time at once."""

from __future__ import annotations

import threading

from eventing.contract import ExecutionResult


class Run:
    """One job's run in progress; `wait` blocks until its result is known."""

    def __init__(self) -> None:
        self._finished = threading.Event()
        self._result: ExecutionResult | None = None

    def done(self, result: ExecutionResult) -> None:
        self._result = result
        self._finished.set()

    def wait(self) -> ExecutionResult:
        self._finished.wait()
        assert self._result is not None
        return self._result

    def abandon(self) -> None:
        """The run failed without a result: its waiters are released to fail too."""
        self._finished.set()


class RunningJobs:
    """Job id → the run in progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}

    def enter(self, job_id: str) -> tuple[Run, bool]:
        """The job's run, and whether the caller is the one to run it."""
        with self._lock:
            run = self._runs.get(job_id)
            if run is not None:
                return run, False
            run = self._runs[job_id] = Run()
            return run, True

    def leave(self, job_id: str, run: Run) -> None:
        with self._lock:
            if self._runs.get(job_id) is run:
                del self._runs[job_id]
        run.abandon()
