"""The runner's events that sum up a whole run, and the lease's, shared by both commands.

Kept apart from ``migration.py`` so that the run's logic reads without its reporting.
The catalogue of names and fields is in :mod:`gatekeeper.events`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from gatekeeper.events import emit
from gatekeeper.runner.command import describe
from gatekeeper.runner.lease import LeaseEvent, describe_event
from gatekeeper.runner.options import ReloadResult, RunOptions, RunResult
from gatekeeper.runner.progress import Progress

__all__ = [
    "LEASE_LEVELS", "command_phase", "finished", "lease_note", "locked", "released", "reload_done",
]  # fmt: skip

LEASE_LEVELS: dict[LeaseEvent, int] = {
    "restored": logging.WARNING,
    "overridden": logging.WARNING,
    "lock-lost": logging.ERROR,
    "redis-error": logging.WARNING,
    "redis-ok": logging.INFO,
}
"""``redis-ok`` is good news; losing the lock means another runner may act meanwhile."""


def lease_note(progress: Progress, area: str, kind: LeaseEvent, detail: str) -> str:
    """Show the lease's ``on_event`` as a note and an ``<area>.lease`` event; its text."""
    message = describe_event(kind, detail)
    progress.note(message, f"{area}.lease", level=LEASE_LEVELS[kind], kind=kind, detail=detail)
    return message


def command_phase(progress: Progress, verb: str, argv: Sequence[str], event: str) -> None:
    """``<verb>: COMMAND``, credentials in it masked on the line and in the event alike:
    a deploy log is a log, and CI keeps it."""
    masked = describe(argv, masked=True)
    progress.phase(f"{verb}: {masked}", event, command=masked)


def locked(area: str, lock: str, owner: str, **fields: Any) -> None:
    """The deploy lock taken (no line shows it: the next phase says what it is for)."""
    emit(f"{area}.locked", f"took the lock {lock} as {owner}", owner=owner, key=lock, **fields)


def released(progress: Progress, opts: RunOptions, result: RunResult) -> None:
    """The run's last line: how it ended, and what happened to the requests meanwhile."""
    requests, longest = result.requests, result.longest_wait_seconds
    text = (
        f"released ({result.final_state}) after {result.held_seconds:.2f}s: "
        f"{requests['held']} requests held, {requests['released']} released, "
        + (f"{requests['handed_off']} handed off, " if opts.handoff else "")
        + f"{requests['rejected']} answered 503"
        + (f", {gone} gave up while held" if (gone := requests.get("client_gone", 0)) else "")
        + (f"; longest wait {longest:.2f}s" if longest is not None else "")
    )
    progress.phase(
        text, "runner.released",
        level=logging.INFO if result.outcome == "success" else logging.WARNING,
        final_state=result.final_state, outcome=result.outcome, exit_code=result.exit_code,
        held_seconds=result.held_seconds, migrate_seconds=result.migrate_seconds,
        overrun=result.overrun, held=requests["held"], released=requests["released"],
        rejected=requests["rejected"], handed_off=requests["handed_off"],
        client_gone=requests.get("client_gone", 0), longest_wait_seconds=longest,
    )  # fmt: skip


def finished(result: RunResult) -> None:
    """A run that never held traffic: it has no ``runner.released``, so this ends it."""
    emit(
        "runner.finished",
        f"done without holding traffic ({result.outcome}): exit status {result.exit_code}",
        level=logging.INFO if result.exit_code == 0 else logging.WARNING,
        outcome=result.outcome, exit_code=result.exit_code, gated=False,
    )  # fmt: skip


def reload_done(result: ReloadResult) -> None:
    """A reload's last event, whatever its outcome (no line: the phases said it all)."""
    emit(
        "reload.done", f"reload done ({result.outcome}): exit status {result.exit_code}",
        level=logging.INFO if result.outcome == "success" else logging.WARNING,
        outcome=result.outcome, exit_code=result.exit_code, seconds=result.seconds,
        stragglers=result.stragglers,
    )  # fmt: skip
