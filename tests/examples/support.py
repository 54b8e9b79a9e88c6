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

import httpx
import redis

from gatekeeper.keys import Keys

from ..servers import ROOT

EXAMPLES = ROOT / "examples"
SEED_ROWS = 3000
"""Notes seeded by revision 0001 in tests: enough to backfill, small enough to be quick."""


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


def set_state(r: redis.Redis, keys: Keys, state: str | None) -> None:
    if state is None:
        r.delete(keys.state)
    else:
        r.set(keys.state, state)
    r.publish(keys.events, "x")


def backfill_gaps(database: Path, table: str = "note") -> int:
    """Notes whose ``words`` is missing or wrong after revision 0002 (Django: ``notes_note``)."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(f"SELECT text, words FROM {table}").fetchall()
    assert len(rows) >= SEED_ROWS
    return sum(1 for text, words in rows if words != len(text.split()))


@dataclass
class Traffic:
    """GET ``url`` back to back in a thread until the block ends; records every status."""

    url: str
    statuses: list[int] = field(default_factory=list)
    slowest: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        with httpx.Client(timeout=30, headers={"Accept": "application/json"}) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    status = client.get(self.url).status_code
                except httpx.HTTPError:
                    status = -1
                self.statuses.append(status)
                self.slowest = max(self.slowest, time.monotonic() - started)
                time.sleep(0.01)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(35)
