"""Interactive problems: the submission and the problem setter's interactor run at the same
time, each in its own sandbox, talking through their standard streams.

The wiring: the solution's stdout goes to the interactor's stdin and the interactor's stdout to
the solution's stdin, through the executor, which relays each direction as it comes (so every
byte is counted against its sender's output limit, and a bounded transcript can be kept). When
one side closes its output, the other's input ends. Each side has its own limits; a side that
stops reading or writing waits until its own wall limit ends it.

The interactor follows testlib's conventions (as a checker does: functions/special_judge.py):
run as `<its run command> input.txt output.txt answer.txt` (the test's input and expected answer
in its /box, output.txt for it to write), its exit code the verdict (0 accepted, 1 wrong
answer, 2 presentation error, 3 its own failure, 7 points), its stderr the message.

Which verdict, in order: an interactor that fails (crashes, hits a limit, exits 3 or with a
code that means nothing) is internal_error, never accepted; a solution stopped by its time,
memory or output limit gets that verdict (an interactor then usually reports the early end as
a wrong answer, but the limit is what happened); an interactor's wrong answer is wrong_answer
(a solution that died of SIGPIPE after it is not a runtime error); a solution that crashed on
its own is runtime_error; else the interactor's accepted or points.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
from dataclasses import dataclass, field

from eventing.contract import Verdict
from functions import grading, sandbox, special_judge
from functions.languages import Language
from functions.special_judge import Side

TRANSCRIPT_BYTES = 64 * 1024
_CHUNK = 65536
TO_INTERACTOR, TO_SOLUTION = "> ", "< "


@dataclass
class _Relay:
    """Copies each direction as it comes, counting bytes per sender, keeping a transcript."""

    solution_cap: int
    interactor_cap: int
    keep: bool
    transcript: bytearray = field(default_factory=bytearray)
    sent: dict[str, int] = field(default_factory=lambda: {TO_INTERACTOR: 0, TO_SOLUTION: 0})
    over: set[str] = field(default_factory=set)
    truncated: bool = False

    def record(self, direction: str, chunk: bytes) -> None:
        if not self.keep or self.truncated:
            return
        lines = chunk.decode("utf-8", errors="replace").splitlines(keepends=True)
        text = "".join(direction + line for line in lines).encode()
        room = TRANSCRIPT_BYTES - len(self.transcript)
        if len(text) > room:
            self.transcript += text[:room]
            self.truncated = True
        else:
            self.transcript += text


@dataclass(frozen=True)
class Exchange:
    """What both sides did: their outcomes, and the transcript when one was asked for."""

    solution: sandbox.RunOutcome
    interactor: sandbox.RunOutcome
    solution_output_exceeded: bool
    interactor_output_exceeded: bool
    transcript: str | None


def run(solution: Side, interactor: Side, *, keep_transcript: bool) -> Exchange:
    """Run both sides at once, relayed; return when both have ended."""
    sol_in_r, sol_in_w = os.pipe()  # interactor -> solution
    sol_out_r, sol_out_w = os.pipe()  # solution -> interactor
    int_in_r, int_in_w = os.pipe()
    int_out_r, int_out_w = os.pipe()
    relay = _Relay(solution.limits.output_bytes, interactor.limits.output_bytes, keep_transcript)
    outcomes: dict[str, sandbox.RunOutcome] = {}
    errors: list[BaseException] = []

    def side(name: str, which: Side, stdin_fd: int, stdout_fd: int) -> None:
        # sandbox.run takes both ends: it closes them once its sandbox holds its own copies,
        # so each pipe ends when the program ends.
        try:
            outcomes[name] = sandbox.run(
                which.argv,
                limits=which.limits,
                box=which.box,
                env=which.env,
                ro_paths=which.ro_paths,
                stdin_fd=stdin_fd,
                stdout_fd=stdout_fd,
            )
        except BaseException as exc:  # re-raised below, after both sides ended
            errors.append(exc)

    threads = [
        threading.Thread(target=side, args=("solution", solution, sol_in_r, sol_out_w)),
        threading.Thread(target=side, args=("interactor", interactor, int_in_r, int_out_w)),
    ]
    for thread in threads:
        thread.start()
    try:
        _pump(relay, {sol_out_r: (int_in_w, TO_INTERACTOR), int_out_r: (sol_in_w, TO_SOLUTION)})
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return Exchange(
        solution=outcomes["solution"],
        interactor=outcomes["interactor"],
        solution_output_exceeded=TO_INTERACTOR in relay.over,
        interactor_output_exceeded=TO_SOLUTION in relay.over,
        transcript=_transcript(relay) if keep_transcript else None,
    )


def _pump(relay: _Relay, routes: dict[int, tuple[int, str]]) -> None:
    """Relay until both senders' outputs close and what they sent is delivered or refused.

    Writes never block the relay (a side that does not read would otherwise stop the other
    direction too): what a reader has not taken yet waits here, bounded by the sender's output
    limit. A sender past its limit is cut off: its output is closed (it gets EPIPE or SIGPIPE)
    and so, once drained, is its peer's input; a reader that has gone loses what was meant for
    it, as with a real pipe."""
    caps = {TO_INTERACTOR: relay.solution_cap, TO_SOLUTION: relay.interactor_cap}
    pending = {sink: bytearray() for sink, _ in routes.values()}
    ended: set[int] = set()  # sinks whose source has closed
    selector = selectors.DefaultSelector()
    for source, (sink, _) in routes.items():
        os.set_blocking(sink, False)
        selector.register(source, selectors.EVENT_READ, ("read", source))
    writing: set[int] = set()
    open_fds = set(routes) | set(pending)

    def close(fd: int) -> None:
        if fd in open_fds:
            open_fds.discard(fd)
            _close(fd)

    def flush(sink: int) -> None:
        try:
            while pending[sink]:
                written = os.write(sink, pending[sink])
                del pending[sink][:written]
        except BlockingIOError:
            pass
        except OSError:  # the reader has gone
            pending[sink].clear()
        if pending[sink] and sink not in writing:
            selector.register(sink, selectors.EVENT_WRITE, ("write", sink))
            writing.add(sink)
        elif not pending[sink] and sink in writing:
            selector.unregister(sink)
            writing.discard(sink)
        if not pending[sink] and sink in ended:
            ended.discard(sink)
            close(sink)

    try:
        while selector.get_map():
            for key, _ in selector.select():
                what, fd = key.data
                if what == "write":
                    flush(fd)
                    continue
                sink, direction = routes[fd]
                chunk = os.read(fd, _CHUNK)
                if chunk and relay.sent[direction] + len(chunk) > caps[direction]:
                    relay.over.add(direction)
                    chunk = b""
                if not chunk:
                    selector.unregister(fd)
                    close(fd)
                    ended.add(sink)
                    flush(sink)
                    continue
                relay.sent[direction] += len(chunk)
                relay.record(direction, chunk)
                pending[sink] += chunk
                flush(sink)
    finally:
        selector.close()
        for fd in list(open_fds):  # after an error: nothing of the relay stays open
            close(fd)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _transcript(relay: _Relay) -> str:
    text = relay.transcript.decode("utf-8", errors="replace")
    return text + ("\n[truncated]" if relay.truncated else "")


def verdict(
    exchange: Exchange,
    solution: Side,
    interactor: Side,
    interactor_language: Language,
    case_points: float | None,
) -> tuple[Verdict, special_judge.Judgement]:
    """The test's verdict, in the order the module's docstring gives, and the interactor's
    judgement (its message, points and run)."""
    judged = special_judge.judgement(
        exchange.interactor,
        interactor.limits,
        case_points,
        interactor.out_of_memory,
        interactor_language.uncaught_error,
        role="interactor",
    )
    if exchange.interactor_output_exceeded:
        judged = special_judge.Judgement(
            "internal_error", "the interactor failed: output limit exceeded", None, judged.run
        )
    if judged.verdict == "internal_error":
        return "internal_error", judged
    own = grading.verdict(
        exchange.solution, solution.limits, None, "", out_of_memory=solution.out_of_memory
    )
    if exchange.solution_output_exceeded:
        own = "output_limit_exceeded"
    if own in ("time_limit_exceeded", "memory_limit_exceeded", "output_limit_exceeded"):
        return own, judged  # type: ignore[return-value]
    if judged.verdict == "wrong_answer":
        return "wrong_answer", judged
    if own == "runtime_error":
        return "runtime_error", judged
    return judged.verdict, judged
