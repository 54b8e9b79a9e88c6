"""What ``run-migration`` and ``reload`` are asked to do, and what they report (``--json``).

The outcomes are ``Literal`` types: the JSON summary's ``outcome`` is a contract that
deploy scripts branch on, so mypy checks that the runner writes only these values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from gatekeeper.core.modes import Mode

__all__ = [
    "DEFAULT_CLOSE_FOR",
    "ON_FAILURE_CHOICES",
    "OnFailure",
    "ReloadOptions",
    "ReloadOutcome",
    "ReloadResult",
    "RunOptions",
    "RunOutcome",
    "RunResult",
]

OnFailure = Literal["open", "maintenance"]
"""The state ``run-migration`` leaves when COMMAND fails."""
ON_FAILURE_CHOICES: tuple[OnFailure, ...] = get_args(OnFailure)

RunOutcome = Literal[
    "",
    "success",
    "failed",
    "interrupted",
    "not-pending",
    "ungated",
    "too-few-processes",
    "drain-timeout",
    "restart-failed",
    "release-timeout",
]
"""``run-migration``'s ``outcome`` (``""`` until the run decides one)."""

ReloadOutcome = Literal[
    "", "success", "failed", "release-timeout", "not-replaced", "interrupted", "no-processes"
]
"""``reload``'s ``outcome``: see :class:`ReloadResult`."""


@dataclass(frozen=True)
class RunOptions:
    command: list[str]
    mode: Mode = Mode.HOLD
    ttl: float = 6.0
    max_hold: float = 15.0
    drain_timeout: float = 5.0
    strict_drain: bool = False
    on_failure: OnFailure = "open"
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
    outcome: RunOutcome = ""
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
    longest_wait_seconds: float | None = None
    """The longest any request was held, as the processes report it (``None``: none of
    them says; gates from before ``longest_wait`` existed)."""

    def as_dict(self) -> dict[str, Any]:
        # Absent rather than null while unknown: the summary stays as it was for gates
        # that do not report it.
        found = dict(self.__dict__)
        if found["longest_wait_seconds"] is None:
            del found["longest_wait_seconds"]
        return found


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
    outcome: ReloadOutcome = ""
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
