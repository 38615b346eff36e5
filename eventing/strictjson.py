"""JSON from strangers: parsed with bounds, so that what parses can be used without surprises.

The standard library accepts documents that break whatever touches them next: nesting deep
enough to raise RecursionError (1,000 levels do), `NaN`/`Infinity` and `1e400` (which strict
JSON readers of our answers refuse), integers of hundreds of digits (OverflowError in any C
conversion), and lone UTF-16 surrogates (`"\\ud800"`, which cannot be encoded back to UTF-8).
`loads` refuses all of them with JSONRefused, a ValueError whose message says what and where.

Standard library only: eventing/contract.py (which the executor imports) parses structured
CloudEvents with it, as the ingress parses every request body with it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64
# 2**63 has 19 digits: no field of any of our APIs means anything longer.
MAX_INT_DIGITS = 20
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONRefused(ValueError):
    """A body that is not JSON we take (the sender's fault: answered 400)."""


def _constant(name: str) -> Any:
    raise JSONRefused(f"{name} is not a JSON number")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JSONRefused(f"an integer of at most {MAX_INT_DIGITS} digits is allowed")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONRefused(f"{text[:40]} is out of range for a number")
    return value


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The document in `raw` (UTF-8), or JSONRefused."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise JSONRefused("the body must be UTF-8") from None
    try:
        document = json.loads(text, parse_constant=_constant, parse_int=_int, parse_float=_float)
    except RecursionError:
        raise JSONRefused(f"JSON nested more than {max_depth} levels deep") from None
    except JSONRefused:
        raise
    except ValueError as exc:
        raise JSONRefused(f"not JSON: {exc}") from None
    check(document, max_depth)
    return document


def check(document: Any, max_depth: int = MAX_DEPTH) -> None:
    """Refuse nesting beyond `max_depth` and strings (keys too) with lone surrogates; iterative,
    so the check itself cannot recurse too deep."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise JSONRefused("a string holds a lone UTF-16 surrogate (not valid Unicode)")
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise JSONRefused(f"JSON nested more than {max_depth} levels deep")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    pending.append((key, depth))
                pending.append((item, depth + 1))
