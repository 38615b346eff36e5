"""A small helper for checker programs in Python, for problem setters without testlib.

Same conventions as testlib (functions/special_judge.py): run as `checker input output answer`,
exit 0 accepted, 1 wrong answer, 2 presentation error, 3 the checker's own failure, 7 points with
"points <value>" first on the report; the report goes to stderr. The executor puts this file
beside every Python checker's source: `import sentinel_checker`.

    import sentinel_checker
    c = sentinel_checker.Checker()
    want, got = c.answer.integer(), c.output.integer()
    if got != want:
        c.wrong(f"expected {want}, found {got}")
    c.output.end()
    c.accept("ok")
"""

from __future__ import annotations

import sys
from typing import NoReturn

ACCEPTED, WRONG, PRESENTATION, FAILED, POINTS = 0, 1, 2, 3, 7


def quit(code: int, message: str) -> NoReturn:
    print(message, file=sys.stderr)
    sys.exit(code)


class Stream:
    """One of the three files, token by token. A malformed or missing token in the output is a
    presentation error; in the input or the answer, the checker's own failure."""

    def __init__(self, path: str, on_error: int) -> None:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                self._tokens = handle.read().split()
        except OSError as exc:
            quit(FAILED, f"cannot open {path}: {exc}")
        self._next, self._path, self._on_error = 0, path, on_error

    def token(self) -> str:
        if self._next >= len(self._tokens):
            quit(self._on_error, f"unexpected end of {self._path}")
        self._next += 1
        return self._tokens[self._next - 1]

    def integer(self) -> int:
        word = self.token()
        try:
            return int(word)
        except ValueError:
            quit(self._on_error, f"not an integer in {self._path}: {word}")

    def real(self) -> float:
        word = self.token()
        try:
            return float(word)
        except ValueError:
            quit(self._on_error, f"not a number in {self._path}: {word}")

    def rest(self) -> list[str]:
        rest, self._next = self._tokens[self._next :], len(self._tokens)
        return rest

    def at_end(self) -> bool:
        return self._next >= len(self._tokens)

    def end(self) -> None:
        if not self.at_end():
            quit(
                WRONG if self._on_error == PRESENTATION else self._on_error,
                f"extra data in {self._path}",
            )


class Checker:
    def __init__(self, argv: list[str] | None = None) -> None:
        args = sys.argv if argv is None else argv
        if len(args) < 4:
            quit(FAILED, "usage: checker <input> <output> <answer>")
        self.input = Stream(args[1], FAILED)
        self.output = Stream(args[2], PRESENTATION)
        self.answer = Stream(args[3], FAILED)

    def accept(self, message: str = "ok") -> NoReturn:
        quit(ACCEPTED, message)

    def wrong(self, message: str) -> NoReturn:
        quit(WRONG, message)

    def presentation(self, message: str) -> NoReturn:
        quit(PRESENTATION, message)

    def fail(self, message: str) -> NoReturn:
        quit(FAILED, message)

    def points(self, value: float, message: str = "") -> NoReturn:
        quit(POINTS, f"points {value}" + (f" {message}" if message else ""))
