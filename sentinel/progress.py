"""A progress display for the wait: a spinner on stderr, only when stderr is a terminal.

In CI logs (not a TTY) it writes nothing, so logs stay clean and stderr carries only the
program's own stderr.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

FRAMES = "|/-\\"


class Spinner:
    """Call `tick()` while waiting and `clear()` before printing anything else."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.enabled = self.stream.isatty()
        self.frame = 0
        self.started = time.monotonic()
        self.shown = False

    def tick(self) -> None:
        """Draw the next frame, with the seconds waited so far."""
        if not self.enabled:
            return
        waited = time.monotonic() - self.started
        char = FRAMES[self.frame % len(FRAMES)]
        self.stream.write(f"\r{char} {self.label} ({waited:.0f}s)")
        self.stream.flush()
        self.frame += 1
        self.shown = True

    def clear(self) -> None:
        """Erase the spinner's line, so what follows starts on a clean line."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False
