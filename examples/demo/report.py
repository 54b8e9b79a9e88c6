"""The demo's numbers: what every request did, what the runner says, what the database has."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from gatekeeper.loadgen import Sample

from .traffic import WRITE_TEXT


def runner_summary(stdout: str) -> dict[str, Any]:
    """The runner's ``--json`` summary: the last line of its stdout (migrate's own
    output comes before it, streamed through unchanged)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            summary: dict[str, Any] = json.loads(line)
            return summary
    raise ValueError("the runner printed no JSON summary")


@dataclass(frozen=True)
class Summary:
    sent: int
    reads: int
    writes: int
    writes_before: int
    """Writes answered before the hold began."""
    writes_held: int
    """Writes held through the migration (see :func:`held_samples`)."""
    writes_after: int
    """Writes sent after the release."""
    failed: int
    failures: dict[str, int]
    """Failure kinds (status or error name) and how many of each."""
    retried: int
    held_by_runner: int
    held_in_samples: int
    longest_hold: float
    hold_window: float
    migration: float
    writes_stored: int
    writes_missing: int
    writes_duplicated: int
    outcome: str

    @property
    def ok(self) -> bool:
        return (
            self.failed == 0
            and self.writes_missing == 0
            and self.writes_duplicated == 0
            and self.outcome == "success"
        )


def is_failure(sample: Sample) -> bool:
    return sample.status != (201 if sample.method == "POST" else 200)


def held_samples(samples: list[Sample], runner: dict[str, Any]) -> list[Sample]:
    """Requests sent before the release and answered after the migration began.

    Requests in flight when the hold began were drained (answered) before the runner
    started the migration, so anything that ends later waited for the release.
    """
    if not runner.get("gated"):
        return []
    released, migrating = runner["released_at"], runner["migrate_started_at"]
    return [s for s in samples if s.started < released and s.ended > migrating]


def write_phases(writes: list[Sample], runner: dict[str, Any]) -> tuple[int, int, int]:
    """How many writes were answered before the hold, held, and sent after the release."""
    if not runner.get("gated"):
        return len(writes), 0, 0
    before = sum(1 for s in writes if s.ended < runner["started_at"])
    after = sum(1 for s in writes if s.started > runner["released_at"])
    return before, len(held_samples(writes, runner)), after


def summarize(samples: list[Sample], runner: dict[str, Any], stored_texts: list[str]) -> Summary:
    writes = [s for s in samples if s.method == "POST"]
    before, held_writes, after = write_phases(writes, runner)
    failures = Counter(s.error or str(s.status) for s in samples if is_failure(s))
    held = held_samples(samples, runner)
    stored = Counter(stored_texts)
    expected = [WRITE_TEXT.format(s.number) for s in writes]
    gated = bool(runner.get("gated"))
    migrate_ended = runner["started_at"] + runner["migrate_seconds"] if gated else 0.0
    return Summary(
        sent=len(samples),
        reads=len(samples) - len(writes),
        writes=len(writes),
        writes_before=before,
        writes_held=held_writes,
        writes_after=after,
        failed=sum(failures.values()),
        failures=dict(failures),
        retried=sum(1 for s in samples if s.retried),
        held_by_runner=int(runner.get("requests", {}).get("held", 0)),
        held_in_samples=len(held),
        longest_hold=max((s.latency for s in held), default=0.0),
        hold_window=runner["released_at"] - runner["started_at"] if gated else 0.0,
        migration=migrate_ended - runner["migrate_started_at"] if gated else 0.0,
        writes_stored=sum(1 for text in expected if stored[text] >= 1),
        writes_missing=sum(1 for text in expected if stored[text] == 0),
        writes_duplicated=sum(1 for text in expected if stored[text] > 1),
        outcome=str(runner.get("outcome", "")),
    )


def report_lines(summary: Summary) -> list[str]:
    s = summary
    failures = ", ".join(f"{count} x {kind}" for kind, count in sorted(s.failures.items()))
    return [
        f"requests sent:     {s.sent} ({s.reads} reads, {s.writes} writes)",
        f"writes:            {s.writes_before} before the hold, {s.writes_held} held through the"
        f" migration, {s.writes_after} after the release",
        f"failed:            {s.failed} (expected 0){': ' + failures if failures else ''}",
        f"retried:           {s.retried} (stale kept-alive connection: resent once, as browsers"
        " do)",
        f"held:              {s.held_by_runner} (runner's count), {s.held_in_samples} (samples"
        " in flight across the release)",
        f"longest hold:      {s.longest_hold:.2f} s",
        f"hold window:       {s.hold_window:.2f} s (released_at - started_at; the migration"
        f" itself {s.migration:.2f} s)",
        f"writes in the db:  {s.writes_stored} of {s.writes}"
        + (f", {s.writes_missing} missing" if s.writes_missing else "")
        + (f", {s.writes_duplicated} stored twice" if s.writes_duplicated else "")
        + (" (each exactly once)" if not s.writes_missing and not s.writes_duplicated else ""),
        f"runner outcome:    {s.outcome}",
    ]
