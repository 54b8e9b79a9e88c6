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
    requests: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
