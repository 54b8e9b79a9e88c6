"""The example apps as the end-to-end tests deploy them, and the traffic process.

:class:`Example` says how to migrate, serve and deploy one example with its own tools;
:class:`Deployment` is one example served on a fresh SQLite database with its gate on
the session's Redis; :class:`TrafficRun` drives ``python -m tests.e2e.traffic`` and reads
back what it recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from tests.examples.support import EXAMPLES, example_env, run
from tests.support.helpers import wait_for
from tests.support.servers import BIN, ROOT, Server, gunicorn, uvicorn
from tools.procs import stop_process

Sample = dict[str, Any]
"""One JSON line of the traffic process (see tests/e2e/traffic.py)."""

OK = (200, 201)


@dataclass(frozen=True)
class Example:
    name: str
    directory: Path
    path: str
    """The notes URL: ``GET`` counts, ``POST`` creates."""
    table: str
    seed_rows: int
    """``NOTES_SEED_ROWS``: sized so that the last migration takes 2 to 4 s here."""
    seed: tuple[str, ...]
    """A fresh database to all but the last migration."""
    rollback: tuple[str, ...]
    """The database at head back to all but the last migration."""
    upgrade: tuple[str, ...]
    """To head, without the gate."""
    deploy: tuple[str, ...]
    """The framework's own deploy command, with ``--json``."""
    head_query: str
    """SQL returning a row when the database is at head."""
    serve: Callable[[dict[str, str]], Server]


def _django_server(env: dict[str, str]) -> Server:
    return gunicorn("example_project.wsgi", env, workers=2, threads=8, cwd=DJANGO.directory)


def _flask_server(env: dict[str, str]) -> Server:
    return gunicorn("app:create_app()", env, workers=2, threads=8, cwd=FLASK.directory)


def _fastapi_server(env: dict[str, str]) -> Server:
    return uvicorn("app:app", env, workers=2, cwd=FASTAPI.directory)


MANAGE = (sys.executable, "manage.py")
DJANGO = Example(
    name="django",
    directory=EXAMPLES / "django_app",
    path="/notes/",
    table="notes_note",
    seed_rows=10_000,
    seed=(*MANAGE, "migrate", "notes", "0001"),
    rollback=(*MANAGE, "migrate", "notes", "0001"),
    upgrade=(*MANAGE, "migrate"),
    deploy=(*MANAGE, "gatekeeper", "run-migration", "--json"),
    head_query="SELECT 1 FROM django_migrations WHERE app = 'notes' AND name = '0002_note_words'",
    serve=_django_server,
)
# `flask` and `alembic` are the venv's console scripts: the environment puts BIN first
# on PATH, for these commands and for the runner's --if-pending check alike.
FLASK = Example(
    name="flask",
    directory=EXAMPLES / "flask_app",
    path="/notes",
    table="note",
    seed_rows=100_000,
    seed=("flask", "db", "upgrade", "0001"),
    rollback=("flask", "db", "downgrade", "0001"),
    upgrade=("flask", "db", "upgrade"),
    deploy=("flask", "gatekeeper", "run-migration", "--json"),
    head_query="SELECT 1 FROM alembic_version WHERE version_num = '0002'",
    serve=_flask_server,
)
ALEMBIC_DEPLOY = (
    "gatekeeper", "run-migration", "--json",
    "--if-pending", "alembic current --check-heads", "--", "alembic", "upgrade", "head",
)  # fmt: skip
FASTAPI = Example(
    name="fastapi",
    directory=EXAMPLES / "fastapi_app",
    path="/notes",
    table="note",
    seed_rows=120_000,
    seed=("alembic", "upgrade", "0001"),
    rollback=("alembic", "downgrade", "0001"),
    upgrade=("alembic", "upgrade", "head"),
    deploy=ALEMBIC_DEPLOY,
    head_query="SELECT 1 FROM alembic_version WHERE version_num = '0002'",
    serve=_fastapi_server,
)


def children(pid: int) -> set[int]:
    """Live child processes of ``pid`` (its workers), from /proc."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.update(int(child) for child in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return {child for child in found if _is_worker(child)}


def _is_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    # multiprocessing's resource tracker is a child too, but serves nothing; a zombie
    # has exited already.
    return b"resource_tracker" not in cmdline and state != "Z"


def run_checked(argv: tuple[str, ...], example: Example, env: dict[str, str]) -> None:
    """Run one of the example's commands in its directory; it must succeed."""
    completed = run(list(argv), example.directory, env, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr


@dataclass
class Deployment:
    """One example served by its real server on a fresh database, gated through Redis."""

    example: Example
    env: dict[str, str]
    database: Path
    keys: Keys
    client: redis.Redis
    server: Server

    def command(self, argv: tuple[str, ...]) -> None:
        run_checked(argv, self.example, self.env)

    def at_head(self) -> bool:
        with sqlite3.connect(self.database) as connection:
            return connection.execute(self.example.head_query).fetchone() is not None

    def ensure_pending(self) -> None:
        """All but the last migration applied, as before a deploy."""
        if self.at_head():
            self.command(self.example.rollback)

    def ensure_migrated(self) -> None:
        """Nothing pending, as before a code-only deploy."""
        if not self.at_head():
            self.command(self.example.upgrade)

    def start_deploy(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.example.deploy, cwd=self.example.directory, env={**os.environ, **self.env},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def finish_deploy(self, deploy: subprocess.Popen[str], timeout: float = 60) -> dict[str, Any]:
        """Wait for the deploy; its ``--json`` summary (the last line of its stdout)."""
        stdout, stderr = deploy.communicate(timeout=timeout)
        print(f"$ {' '.join(self.example.deploy)}  -> {deploy.returncode}\n{stdout}{stderr}")
        assert deploy.returncode == 0, stdout + stderr
        summary: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        return summary

    def reports(self) -> list[dict[str, Any]]:
        return read_processes(self.client, self.keys)

    def all_holding(self) -> bool:
        """Every gate process that reported itself has heard the hold and drained."""
        reports = self.reports()
        return bool(reports) and all(report.get("mode") == "hold" for report in reports)

    def held_totals(self, since: float) -> dict[str, int]:
        """``held_total`` of each gate process, from reports written after ``since``."""

        def fresh() -> dict[str, int]:
            reports = self.reports()
            scores = {
                report["id"]: self.client.zscore(self.keys.procs, report["id"]) or 0.0
                for report in reports
            }
            if not reports or min(scores.values()) <= since:
                return {}
            return {report["id"]: int(report.get("held_total", 0)) for report in reports}

        return wait_for(fresh, 5, interval=0.05, what="fresh reports from every gate process")

    def workers(self) -> set[int]:
        assert self.server.process is not None
        return children(self.server.process.pid)

    def notes(self) -> dict[int, tuple[str, int]]:
        """``{id: (text, words)}`` of the notes the traffic wrote."""
        with sqlite3.connect(self.database) as connection:
            rows = connection.execute(
                f"SELECT id, text, words FROM {self.example.table} WHERE text LIKE 'e2e %'"
            ).fetchall()
        return {row_id: (text, words) for row_id, text, words in rows}


@contextlib.contextmanager
def deployed(example: Example, redis_url: str, directory: Path) -> Iterator[Deployment]:
    """``example`` on a fresh database in ``directory`` at all but its last migration,
    served by its real server with two workers, its gate on ``redis_url`` under a prefix
    of its own."""
    database = directory / "notes.sqlite3"
    keys = Keys(f"gke2e{os.getpid()}{example.name}{directory.name}")
    env = {
        **example_env(database, redis_url, keys.prefix),
        "NOTES_SEED_ROWS": str(example.seed_rows),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    run_checked(example.seed, example, env)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with example.serve(env) as server:
            yield Deployment(example, env, database, keys, client, server)
    finally:
        client.close()


class TrafficRun:
    """``python -m tests.e2e.traffic`` against ``port``, recording into ``directory``."""

    def __init__(
        self,
        port: int,
        path: str,
        directory: Path,
        *,
        seconds: float = 60,
        rate: float = 50,
    ) -> None:
        self.out = directory / "traffic.jsonl"
        self.stop_file = directory / "traffic.stop"
        self.argv = [
            sys.executable, "-m", "tests.e2e.traffic",
            "--port", str(port), "--path", path, "--seconds", str(seconds),
            "--rate", str(rate), "--out", str(self.out),
            "--stop-file", str(self.stop_file),
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> TrafficRun:
        self.process = subprocess.Popen(self.argv, cwd=ROOT)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stop_process(self.process, signals=())  # still running only if the test failed

    def samples(self) -> list[Sample]:
        if not self.out.exists():
            return []
        text = self.out.read_text()
        complete = text[: text.rfind("\n") + 1]  # the last line may be half written
        return [json.loads(line) for line in complete.splitlines()]

    def wait_flowing(self, answered: int = 20) -> None:
        def flowing() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, "the traffic process ended early"
            return sum(sample["status"] in OK for sample in self.samples()) >= answered

        wait_for(flowing, 20, interval=0.05, what=f"{answered} answered requests")

    def stop_at(self, when: float) -> None:
        partial = self.stop_file.with_suffix(".tmp")
        partial.write_text(repr(when))
        partial.rename(self.stop_file)  # atomic: the process never reads half a number

    def finish(self, timeout: float = 40) -> list[Sample]:
        """Wait for the traffic to end by itself; every request it made."""
        assert self.process is not None
        assert self.process.wait(timeout) == 0
        return self.samples()


@dataclass(frozen=True)
class Tally:
    sent: int
    failed: list[Sample]
    failed_on_reused: int
    """No response on a kept-alive connection: what a browser would have resent once."""
    longest: float

    @classmethod
    def of(cls, samples: list[Sample]) -> Tally:
        return cls(
            sent=len(samples),
            failed=[sample for sample in samples if sample["status"] not in OK],
            failed_on_reused=sum(1 for s in samples if s["status"] == 0 and s["reused"]),
            longest=max((sample["ended"] - sample["started"] for sample in samples), default=0.0),
        )
