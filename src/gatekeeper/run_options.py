"""What ``run-migration`` is asked to do, and what it reports (``--json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gatekeeper.modes import Mode

__all__ = ["RunOptions", "RunResult"]


@dataclass(frozen=True)
class RunOptions:
    command: list[str]
    mode: Mode = Mode.HOLD
    ttl: float = 6.0
    max_hold: float = 15.0
    drain_timeout: float = 5.0
    strict_drain: bool = False
    on_failure: str = "open"
    if_pending: str | None = None
    allow_ungated: bool = False
    message: str | None = None
    retry_after: int | None = None
    min_processes: int = 0
    """Refuse to migrate (exit 3) unless at least this many gate processes report in."""
    expect_hosts: tuple[str, ...] = ()
    """Refuse to migrate (exit 3) unless a gate process on each of these hosts reports in."""
    redis_label: str = ""
    """Where the runner looked (URL with no password, and prefix), for its warnings."""


@dataclass
class RunResult:
    exit_code: int
    outcome: str = ""
    pending: bool | None = None
    gated: bool = True
    held_seconds: float = 0.0
    migrate_seconds: float = 0.0
    overrun: bool = False
    final_state: str = ""
    started_at: float = 0.0
    """Epoch time the state was set (traffic gated from then on)."""
    migrate_started_at: float = 0.0
    released_at: float = 0.0
    """Epoch time of the release write (what held requests wait for)."""
    undrained: list[str] = field(default_factory=list)
    processes: int = 0
    """Live gate processes when the drain began; 0 means nothing held any traffic."""
    hosts: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
