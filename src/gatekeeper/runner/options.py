"""What ``run-migration`` is asked to do, and what it reports (``--json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gatekeeper.core.modes import Mode

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
    restart: tuple[str, ...] = ()
    """Run after COMMAND succeeds, still holding: restarts the app on the new code."""
    await_release: str | None = None
    """Before opening, wait until a process of this release is live on every host that
    had live processes at the start (at most ``release_timeout`` seconds)."""
    handoff: bool = False
    """Open with ``<prefix>:handoff`` naming ``await_release``: processes of any other
    release redirect what they hold, so that the new release answers it."""
    release_timeout: float = 60.0
    """Seconds each wait on releases may take: for the new one after the restart, and,
    after a handoff, for the old processes to leave."""

    def __post_init__(self) -> None:
        if self.handoff and not self.await_release:
            raise ValueError(
                "--handoff needs --await-release R: the release that takes the requests"
            )


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
    migrate_ended_at: float = 0.0
    restart_status: int | None = None
    """The restart's exit status (``None``: no ``--restart``, or it never ran)."""
    release_ready_at: float = 0.0
    """Epoch time ``--await-release`` saw the release on every host."""
    handoff_ended_at: float = 0.0
    """Epoch time the last process of another release left (or the wait gave up)."""
    stragglers: list[str] = field(default_factory=list)
    """What a release wait still waited for when it gave up."""
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
