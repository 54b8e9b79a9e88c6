"""Helpers for the example apps' tests: their commands, traffic, and the gate's state."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from tests.support.helpers import set_state as set_state  # re-exported for the example tests
from tests.support.servers import ROOT

EXAMPLES = ROOT / "examples"
SEED_ROWS = 3000
"""Notes seeded by revision 0001 in tests: enough to backfill, small enough to be quick."""
RELEASE_SLACK = 0.01
"""``released_at`` is stamped just after the release write returns: a held request can be
answered a few milliseconds before the runner gets to stamp it."""


def example_env(database: Path, redis_url: str, prefix: str) -> dict[str, str]:
    """The environment an example runs in: its database, its gate, a small seed."""
    return {
        "DATABASE_URL": f"sqlite:///{database}",
        "NOTES_SEED_ROWS": str(SEED_ROWS),
        "GATEKEEPER_REDIS_URL": redis_url,
        "GATEKEEPER_PREFIX": prefix,
        "GATEKEEPER_POLL_INTERVAL": "0.2",
        "GATEKEEPER_HOLD_TIMEOUT": "20",
    }


def run(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command of an example; its output is printed, so a failing test shows it."""
    completed = subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    print(f"$ {' '.join(argv)}  -> {completed.returncode}\n{completed.stdout}{completed.stderr}")
    return completed


def backfill_gaps(database: Path, table: str = "note") -> int:
    """Notes whose ``words`` is missing or wrong after revision 0002 (Django: ``notes_note``)."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(f"SELECT text, words FROM {table}").fetchall()
    assert len(rows) >= SEED_ROWS
    return sum(1 for text, words in rows if words != len(text.split()))


@dataclass(frozen=True)
class Call:
    """One request of :class:`Traffic`: what it was, when, and how it ended."""

    method: str
    started: float
    ended: float
    status: int
    """HTTP status; -1 when no response came."""
    text: str = ""
    """A write's note text."""
    note_id: int | None = None
    """The id a ``201`` answered with."""


@dataclass
class Traffic:
    """Reads (``GET url``) and writes (``POST url`` with ``{"text": "example <n>"}``) back
    to back, one thread each, until the block ends; records every request as a
    :class:`Call`. Reads and writes flow from the start: the examples' code works with
    the schema before and after their pending migration."""

    url: str
    calls: list[Call] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Traffic:
        for writes in (False, True):
            thread = threading.Thread(target=self._loop, args=(writes,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _loop(self, writes: bool) -> None:
        with httpx.Client(timeout=30, headers={"Accept": "application/json"}) as client:
            number = 0
            while not self._stop.is_set():
                started = time.time()
                text = f"example {number}" if writes else ""
                number += 1
                note_id = None
                try:
                    if writes:
                        response = client.post(self.url, json={"text": text})
                        if response.status_code == 201:
                            note_id = response.json()["id"]
                    else:
                        response = client.get(self.url)
                    status = response.status_code
                except httpx.HTTPError:
                    status = -1
                method = "POST" if writes else "GET"
                self.calls.append(Call(method, started, time.time(), status, text, note_id))
                time.sleep(0.01)

    def answered_after(self, when: float) -> bool:
        """A read and a write sent after ``when`` have been answered."""
        return {c.method for c in list(self.calls) if c.started > when} == {"GET", "POST"}

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(35)


def check_traffic_through_deploy(traffic: Traffic, summary: dict[str, Any], database: Path) -> None:
    """What the example tests assert of a migration deploy under :class:`Traffic`: no
    request failed; reads and writes were answered before the hold, held through the
    migration and answered after the release, and after it again; every write is stored
    once, as sent."""
    calls = traffic.calls
    assert {(c.method, c.status) for c in calls} == {("GET", 200), ("POST", 201)}, calls
    started, migrating, released = (
        summary["started_at"], summary["migrate_started_at"], summary["released_at"],
    )  # fmt: skip
    phases = {
        "before": [c for c in calls if c.ended < started],
        # Drained before the migration started, or held until the release.
        "held": [c for c in calls if c.started < released and c.ended > migrating],
        "after": [c for c in calls if c.started > released],
    }
    for name, group in phases.items():
        assert {c.method for c in group} == {"GET", "POST"}, f"{name}: {group}"
    early = [c for c in phases["held"] if c.ended < released - RELEASE_SLACK]
    assert not early, f"answered before the release at {released}: {early}"
    written = {c.note_id: c.text for c in calls if c.method == "POST"}
    assert len(written) == sum(c.method == "POST" for c in calls)
    with sqlite3.connect(database) as connection:
        stored = connection.execute(
            "SELECT id, text, words FROM note WHERE text LIKE 'example %'"
        ).fetchall()
    assert {row_id: text for row_id, text, _ in stored} == written
    assert {words for _, _, words in stored} == {2}
