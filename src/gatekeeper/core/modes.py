"""The four gate modes and how a raw Redis value becomes one."""

from __future__ import annotations

from enum import Enum

__all__ = ["SAFE_METHODS", "Mode", "mode_hint", "parse_mode"]


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


def mode_hint(message: dict[str, object], channel: str) -> Mode | None:
    """The mode a pub/sub message on the events ``channel`` names, if its text is one.

    ``gatekeeper`` and the runner publish the new mode's name, so a gate can act on it
    before re-reading the state; any other text (``x``) only asks for the re-read.
    """
    raw_channel = message.get("channel")
    if isinstance(raw_channel, bytes):
        raw_channel = raw_channel.decode("utf-8", "replace")
    data = message.get("data")
    if raw_channel != channel or not isinstance(data, bytes | str) or not data:
        return None
    return parse_mode(data)
