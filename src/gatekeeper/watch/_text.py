"""Making values read from Redis safe to put on a terminal, and reading counts from them.

Everything in Redis is untrusted input here: anyone who can write a key can write an
escape sequence, a megabyte of text, or a list where a number belongs. What reaches the
screen is therefore always a short ``str`` with no control or format character left in
it, and every count is an ``int`` or ``None`` (shown as ``?``).
"""

from __future__ import annotations

import math
import unicodedata

__all__ = ["clean", "count", "seconds"]

FIELD_LIMIT = 60
"""Characters of one field on screen: a row of the table must fit in a terminal."""

_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories escaped: controls (ESC, CSI as U+009B, BEL, CR...), format
characters (bidi overrides, zero-width joiners: they reorder or hide what is shown),
surrogates, private use, unassigned, and the line and paragraph separators."""

_COUNT_LIMIT = 10**15
_SECONDS_LIMIT = 1e9


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def clean(value: object, limit: int = FIELD_LIMIT) -> str:
    """``value`` as printable text of at most ``limit`` characters (an ellipsis marks a
    cut); unsafe characters are written as ``\\xNN`` escapes, never passed through."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    elif isinstance(value, str):
        text = value
    elif value is None:
        return ""
    else:
        # A number prints as itself; a list or a dict where text belongs shows as such,
        # cleaned like any string (its repr could hold anything).
        text = str(value) if isinstance(value, (int, float)) else repr(value)
    # Only the start can be shown, so a huge value costs no more than a short one.
    head = text[: limit + 1]
    safe = "".join(
        _escape(char) if unicodedata.category(char) in _UNSAFE else char for char in head
    )
    if len(safe) > limit or len(text) > limit:
        return safe[: max(limit - 1, 0)] + "…"
    return safe


def count(value: object) -> int | None:
    """A count from a report: a non-negative ``int`` (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value < _COUNT_LIMIT else None


def seconds(value: object) -> float | None:
    """A duration from a report: a finite, non-negative number, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and 0 <= number < _SECONDS_LIMIT else None
