"""One deploy of code and migration together, under open-loop traffic, measured.

The app (``tests/support/apps/releases.py``) starts on release v1 under gunicorn or uvicorn (two
workers). Open-loop traffic, half GETs and half POSTs with bodies, from a client that
follows redirects, runs through ``gatekeeper run-migration --restart ... --await-release
v2 [--handoff] -- <migration>``, where the restart rewrites the release file and sends
the server SIGHUP, so that the new workers run v2. With a PostgreSQL the migration
renames the table the v1 code uses: the migration the old code cannot survive.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import redis

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from tests.support.helpers import wait_for
from tests.support.servers import BIN, ROOT, Server, gunicorn, uvicorn
from tools.openloop import Record
from tools.openloop import start as start_traffic

ServerKind = Literal["gunicorn", "uvicorn"]

RENAME = "ALTER TABLE notes RENAME TO entries"


@dataclass
class JournalLine:
    request_id: str
    release: str
    pid: int
    at: float
    intact: str


@dataclass
class Deploy:
    """What one deploy did: the runner's JSON, every request, the app's journal."""

    runner: dict[str, Any]
    records: list[Record]
    journal: list[JournalLine]
    traffic_started_at: float
    """Epoch time of the traffic's t0: ``record.scheduled`` is counted from it."""

    def arrived_at(self, record: Record) -> float:
        return self.traffic_started_at + record.scheduled

    def during_hold(self) -> list[Record]:
        """Requests that arrived after the hold began (all must reach the new code)."""
        return [r for r in self.records if self.arrived_at(r) >= self.runner["started_at"]]

    def held(self) -> list[Record]:
        """Requests that arrived while the state was not yet open."""
        start, end = self.runner["started_at"], self.runner["released_at"]
        return [r for r in self.records if start <= self.arrived_at(r) < end]

    def failed(self) -> list[Record]:
        return [r for r in self.records if r.error is not None or r.status != 200]

    def figures(self) -> dict[str, Any]:
        runner = self.runner
        held = self.held()
        last_held = max(
            (self.traffic_started_at + r.end for r in held if r.end is not None), default=None
        )
        return {
            "sent": len(self.records),
            "held": len(held),
            "handed_off": runner["requests"].get("handed_off", 0),
            "redirected": sum(r.redirects > 0 for r in self.records),
            "failed": len(self.failed()),
            "max_redirects": max((r.redirects for r in self.records), default=0),
            "migration_end_to_open_s": round(runner["released_at"] - runner["migrate_ended_at"], 3),
            "open_to_last_held_answered_s": (
                round(last_held - runner["released_at"], 3) if last_held else None
            ),
            "open_to_old_processes_gone_s": (
                round(runner["handoff_ended_at"] - runner["released_at"], 3)
                if runner.get("handoff_ended_at")
                else None
            ),
        }


def _server(kind: ServerKind, env: dict[str, str]) -> Server:
    if kind == "gunicorn":
        # The hooks start each new worker's watcher at boot: it reports in at once.
        return gunicorn("tests.support.apps.releases:wsgi_app", env, workers=2, hooks=True)
    return uvicorn("tests.support.apps.releases:asgi_app", env, workers=2)


def _prepare_database(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS notes")
        conn.execute("DROP TABLE IF EXISTS entries")
        conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, request_id text NOT NULL)")


def _migration(database_url: str | None, seconds: float) -> list[str]:
    if database_url is None:
        return ["sleep", str(seconds)]
    code = (
        f"import psycopg, time; time.sleep({seconds!r}); "
        f"psycopg.connect({database_url!r}, autocommit=True).execute({RENAME!r})"
    )
    return [sys.executable, "-c", code]


def _journal(path: Path) -> list[JournalLine]:
    lines = []
    for line in path.read_text().splitlines():
        request_id, release, pid, at, intact = line.split()
        lines.append(JournalLine(request_id, release, int(pid), float(at), intact))
    return lines


def run_deploy(
    kind: ServerKind,
    redis_url: str,
    prefix: str,
    workdir: Path,
    *,
    handoff: bool,
    database_url: str | None = None,
    rate: float = 100.0,
    migration_seconds: float = 4.0,
    before: float = 1.0,
    after: float = 2.0,
) -> Deploy:
    release_file, journal = workdir / "release", workdir / "journal"
    release_file.write_text("v1\n")
    journal.write_text("")
    if database_url is not None:
        _prepare_database(database_url)
    env = {
        "GATEKEEPER_REDIS_URL": redis_url,
        "GATEKEEPER_PREFIX": prefix,
        "GATEKEEPER_POLL_INTERVAL": "0.2",
        "GATEKEEPER_HOLD_TIMEOUT": "30",
        "RELEASE_FILE": str(release_file),
        "JOURNAL_PATH": str(journal),
        **({"DATABASE_URL": database_url} if database_url else {}),
    }
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    with _server(kind, env) as server:
        wait_for(lambda: len(read_processes(client, keys)) == 2, timeout=20)
        traffic = start_traffic(
            server.url + "/notes", rate, 60.0, writes_every=2, follow_redirects=10,
            tag_header="x-release", timeout=30.0,
        )  # fmt: skip
        try:
            time.sleep(before)  # traffic on v1 before the deploy: part of the scenario
            assert server.process is not None
            restart = shlex.join(
                ["sh", "-c", f"echo v2 > {shlex.quote(str(release_file))} && "
                 f"kill -HUP {server.process.pid}"]
            )  # fmt: skip
            argv = [
                str(BIN / "gatekeeper"), "--redis-url", redis_url, "--prefix", prefix,
                "run-migration", "--max-hold", "20", "--ttl", "3",
                "--restart", restart, "--await-release", "v2",
                *(["--handoff"] if handoff else []), "--json",
                "--", *_migration(database_url, migration_seconds),
            ]  # fmt: skip
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=120, cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
            assert done.stdout, done.stderr
            runner = json.loads(done.stdout)
            runner["stderr"] = done.stderr
            time.sleep(after)  # traffic on v2 after the deploy
        finally:
            traffic.stop()
        result = traffic.result(timeout=60)
    client.close()
    return Deploy(runner, result.records, _journal(journal), result.started_at)
