"""The four gate modes and how a raw Redis value becomes one."""

from __future__ import annotations

from enum import Enum

__all__ = ["SAFE_METHODS", "Mode", "parse_mode"]


class Mode(str, Enum):
    """What the gate does with requests that are not exempt."""

    OPEN = "open"
    """Every request passes."""
    HOLD = "hold"
    """Requests wait until the state changes or their deadline passes."""
    READONLY = "readonly"
    """Safe methods pass; writes wait (or are refused, see ``readonly_writes``)."""
    MAINTENANCE = "maintenance"
    """Requests get the 503 maintenance response."""

    def __str__(self) -> str:
        return self.value


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that ``readonly`` lets through. TRACE is left out on purpose: nobody needs it."""

_BY_VALUE = {mode.value: mode for mode in Mode}


def parse_mode(raw: str | bytes | None) -> Mode | None:
    """Turn the value of ``<prefix>:state`` into a mode.

    An absent key (``None``) or an empty value means ``open``. Case and surrounding
    whitespace are ignored, so ``"Maintenance\\n"`` written by a script counts. Anything
    else returns ``None``: the caller decides what an unknown value means.
    """
    if raw is None:
        return Mode.OPEN
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    value = raw.strip().lower()
    if not value:
        return Mode.OPEN
    return _BY_VALUE.get(value)
