"""The demo's numbers: what every request did, what the deploys say, what the database has.

Pure functions of the open-loop records, the two commands' ``--json`` summaries, the
times their phase lines came, and the notes counted in the database; unit-tested with
small made-up inputs (tests/tools/test_demo.py).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tools.openloop import Record, Result

NO_RELEASE = "none"
"""The key under which answers without an ``X-Release`` header are counted."""


def json_summary(stdout: str) -> dict[str, Any]:
    """A command's ``--json`` summary: the last line of its stdout that is one (migrate's
    own output comes before it, streamed through unchanged)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            summary: dict[str, Any] = json.loads(line)
            return summary
    raise ValueError("the command printed no JSON summary")


@dataclass(frozen=True)
class Window:
    """A deploy's window, in seconds since the traffic started, with named moments."""

    start: float
    end: float
    marks: tuple[tuple[str, float], ...] = ()

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def mark(self, name: str) -> float | None:
        return next((at for label, at in self.marks if label == name), None)

    def holds(self, at: float) -> bool:
        return self.start <= at < self.end


def hold_window(runner: dict[str, Any], t0: float) -> Window | None:
    """``run-migration``'s hold: from the state set to the open, with the migration's
    start, the restart (right after the migration) and the open marked."""
    if not runner.get("gated") or not runner.get("released_at"):
        return None
    marks = [
        ("migrate", runner.get("migrate_started_at")),
        ("restart", runner.get("migrate_ended_at")),
        ("open", runner["released_at"]),
    ]
    return Window(
        runner["started_at"] - t0,
        runner["released_at"] - t0,
        tuple((name, at - t0) for name, at in marks if at),
    )


def reload_window(stamps: list[tuple[float, str]], t0: float) -> Window | None:
    """``reload``'s window, from the times its phase lines came: keep-alive off to back
    on, with the restart command (``running:``) marked."""

    def when(phase: str) -> float | None:
        return next((at - t0 for at, line in stamps if f"] {phase}" in line), None)

    start, end, restart = when("keep-alive off"), when("keep-alive back on"), when("running:")
    if start is None or end is None:
        return None
    return Window(start, end, (("HUP", restart),) if restart is not None else ())


def failure(record: Record) -> str | None:
    """Why a request failed (an error, or a final status outside 2xx and 3xx), or None."""
    if record.error is not None:
        return record.error
    return None if 200 <= record.status < 400 else str(record.status)


@dataclass(frozen=True)
class Summary:
    sent: int
    reads: int
    writes: int
    answered: dict[str, int]
    """Release (its ``X-Release``) -> requests it answered, failures left out."""
    held: int
    """Requests that arrived during the hold (all waited for the open)."""
    held_by_gate: int
    handed_off: int
    """Requests that followed a redirect: answered 307 by old code, re-sent to the new."""
    handed_off_by_gate: int
    failed: int
    failures: dict[str, int]
    most_redirects: int
    end_to_open: float
    """The migration's end to the open: the restart and the wait for the new release."""
    open_to_last_held: float
    """The open to the last held request answered."""
    hold: Window | None
    reload: Window | None
    in_reload: int
    failed_in_reload: int
    writes_stored: int
    writes_missing: int
    writes_duplicated: int
    migration_outcome: str
    reload_outcome: str

    @property
    def ok(self) -> bool:
        return (
            self.failed == 0
            and self.writes_missing == 0
            and self.writes_duplicated == 0
            and self.migration_outcome == "success"
            and self.reload_outcome == "success"
        )


def summarize(
    traffic: Result,
    runner: dict[str, Any],
    reloaded: dict[str, Any],
    reload: Window | None,
    stored: Counter[str],
) -> Summary:
    """``stored``: how many notes have each text (the writes' texts are their ids)."""
    t0, records = traffic.started_at, traffic.records
    hold = hold_window(runner, t0)
    writes = [r for r in records if r.method == "POST"]
    failures = Counter(kind for r in records if (kind := failure(r)) is not None)
    held = [r for r in records if hold is not None and hold.holds(r.scheduled)]
    last_held = max((r.end for r in held if r.end is not None), default=None)
    in_reload = [r for r in records if reload is not None and reload.holds(r.scheduled)]
    expected = [stored[r.request_id or ""] for r in writes]
    requests = runner.get("requests", {})
    return Summary(
        sent=len(records),
        reads=len(records) - len(writes),
        writes=len(writes),
        answered=dict(
            sorted(Counter(r.tag or NO_RELEASE for r in records if failure(r) is None).items())
        ),
        held=len(held),
        held_by_gate=int(requests.get("held", 0)),
        handed_off=sum(1 for r in records if r.redirects > 0),
        handed_off_by_gate=int(requests.get("handed_off", 0)),
        failed=sum(failures.values()),
        failures=dict(failures),
        most_redirects=max((r.redirects for r in records), default=0),
        end_to_open=(
            runner["released_at"] - runner["migrate_ended_at"]
            if hold is not None and runner.get("migrate_ended_at")
            else 0.0
        ),
        open_to_last_held=(
            max(0.0, last_held - hold.end) if hold is not None and last_held is not None else 0.0
        ),
        hold=hold,
        reload=reload,
        in_reload=len(in_reload),
        failed_in_reload=sum(1 for r in in_reload if failure(r) is not None),
        writes_stored=sum(1 for count in expected if count >= 1),
        writes_missing=sum(1 for count in expected if count == 0),
        writes_duplicated=sum(1 for count in expected if count > 1),
        migration_outcome=str(runner.get("outcome", "")),
        reload_outcome=str(reloaded.get("outcome", "")),
    )


def report_lines(summary: Summary) -> list[str]:
    s = summary
    failures = ", ".join(f"{count} x {kind}" for kind, count in sorted(s.failures.items()))
    answered = ", ".join(f"{count} by {release}" for release, count in s.answered.items())
    hold_line = reload_line = "did not happen"
    if s.hold is not None:
        migrate, restart = s.hold.mark("migrate"), s.hold.mark("restart")
        hold_line = f"{s.hold.seconds:.2f} s from the hold to the open" + (
            f" (the migration {restart - migrate:.2f} s of it)"
            if migrate is not None and restart is not None
            else ""
        )
    if s.reload is not None:
        hup = s.reload.mark("HUP")
        reload_line = (
            f"{s.reload.seconds:.2f} s of keep-alive off"
            + (f" (HUP {hup - s.reload.start:.2f} s in)" if hup is not None else "")
            + f": {s.in_reload} requests arrived in it, {s.failed_in_reload} failed"
        )
    return [
        f"requests sent:     {s.sent} ({s.reads} reads, {s.writes} writes), none resent",
        f"answered:          {answered or 'none'}",
        f"held:              {s.held} arrived during the hold ({s.held_by_gate} in the gate's"
        " threads, the rest in gunicorn's queue)",
        f"handed off:        {s.handed_off} followed a redirect to the new code (the gate sent"
        f" {s.handed_off_by_gate} redirects)",
        f"failed:            {s.failed} (expected 0){': ' + failures if failures else ''}",
        f"most redirects:    {s.most_redirects} (followed by one request)",
        f"hold window:       {hold_line}",
        f"migration to open: {s.end_to_open:.2f} s (the restart, the wait for the new release)",
        f"open to last held: {s.open_to_last_held:.2f} s (to the last held request answered)",
        f"reload window:     {reload_line}",
        f"writes in the db:  {s.writes_stored} of {s.writes}"
        + (f", {s.writes_missing} missing" if s.writes_missing else "")
        + (f", {s.writes_duplicated} stored more than once" if s.writes_duplicated else "")
        + (" (each exactly once)" if not s.writes_missing and not s.writes_duplicated else ""),
        f"deploys:           run-migration {s.migration_outcome or 'did not end'},"
        f" reload {s.reload_outcome or 'did not run'}",
    ]
