"""What ``gatekeeper reload`` is asked to do, and what it reports (``--json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_CLOSE_FOR", "ReloadOptions", "ReloadResult"]

DEFAULT_CLOSE_FOR = 6.0
"""Seconds of keep-alive off before COMMAND. A connection idle for all of them is closed
by the server itself if its keep-alive timeout is shorter: uvicorn's and hypercorn's are
5 s, gunicorn's 2 s. Raise it above a longer one (waitress: 120 s)."""


@dataclass(frozen=True)
class ReloadOptions:
    command: list[str]
    close_for: float = DEFAULT_CLOSE_FOR
    await_release: str | None = None
    """Wait until every live process of the targeted hosts reports this release."""
    timeout: float = 60.0
    """Seconds each wait may take: for acknowledgements, and for the new processes."""
    hosts: tuple[str, ...] = ()
    """Only the processes of these hosts (a rolling restart); empty: every host."""
    ttl: float = 10.0
    """Seconds the keep-alive switch and the lock outlive a reload that died."""
    redis_label: str = ""


@dataclass
class ReloadResult:
    exit_code: int
    outcome: str = ""
    """``success``, ``failed`` (COMMAND failed), ``release-timeout`` (exit 3),
    ``not-replaced`` (old processes still live at the timeout), ``interrupted``,
    ``no-processes`` (a named host has none; COMMAND not run)."""
    hosts: list[str] = field(default_factory=list)
    command_status: int | None = None
    acknowledged: int = 0
    unacknowledged: list[str] = field(default_factory=list)
    closed_for: float = 0.0
    stragglers: list[str] = field(default_factory=list)
    releases: dict[str, list[str]] = field(default_factory=dict)
    """Release -> hosts, of the live processes at the end."""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
