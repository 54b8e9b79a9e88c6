"""Issue 4, end to end: each example under its real server with two workers, real HTTP
traffic from a separate process, deployed with the framework's own command.

* A migration deploy (``manage.py gatekeeper run-migration``, ``flask gatekeeper
  run-migration``, ``gatekeeper run-migration -- alembic upgrade head``) under reads and
  writes from before it starts to after it ends: no request fails, every write is in the
  database exactly once, the requests made during the migration are held and answered
  after the release, and the migration really ran (every old note backfilled).
* A code-only deploy: the same command with nothing pending holds nobody, and a graceful
  restart of the server (gunicorn ``HUP``; uvicorn >= 0.51 ``HUP``, which replaces its
  workers one at a time, each new one ready before the old one stops) fails no request.

The examples' code works with the schema before and after their pending migration (an
expand/contract deploy): what the gate spares the writes is the migration's write lock.
tests/e2e/test_gate_needed.py runs the same migration without the gate.

Each test prints one summary line (``E2E ...``), quoted in the project's closing note.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatekeeper.testing import RedisServer
from tests.e2e.harness import (
    DJANGO,
    FASTAPI,
    FLASK,
    Deployment,
    Example,
    Sample,
    Tally,
    TrafficRun,
    deployed,
)
from tests.examples.support import backfill_gaps
from tests.support.helpers import wait_for

RELEASE_SLACK = 0.01
"""``released_at`` is stamped just after the release write returns: a held request can be
answered a few milliseconds before the runner gets to stamp it."""


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(DJANGO, id="django-gunicorn"),
        pytest.param(FLASK, id="flask-gunicorn"),
        pytest.param(FASTAPI, id="fastapi-uvicorn"),
    ],
)
def deployment(
    request: pytest.FixtureRequest,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    """The example on a fresh database at all but its last migration, served by its real
    server with two workers, its gate on the session's Redis under a prefix of its own."""
    example: Example = request.param
    if redis_server.process is None:  # an earlier test stopped it; bring it back
        redis_server.start()
    directory = tmp_path_factory.mktemp(f"e2e-{example.name}")
    with deployed(example, redis_server.url, directory) as deployment:
        yield deployment


def replacements(deployment: Deployment, old: set[int]) -> set[int]:
    """The server's workers once they are two again and none of them is an old one."""
    workers = deployment.workers()
    return workers if len(workers) == 2 and workers.isdisjoint(old) else set()


def failures(samples: list[Sample]) -> str:
    tally = Tally.of(samples)
    return f"{len(tally.failed)} of {tally.sent} failed, e.g. {tally.failed[:5]}"


def test_migration_deploy_under_traffic_fails_no_request(
    deployment: Deployment, tmp_path: Path
) -> None:
    example = deployment.example
    deployment.ensure_pending()
    # Every old note still to count: the migration has real work to do.
    assert backfill_gaps(deployment.database, example.table) == example.seed_rows
    with TrafficRun(deployment.server.port, example.path, tmp_path) as traffic:
        # Reads and writes from here to the end, on the code that runs before, during
        # and after the migration.
        traffic.wait_flowing()
        summary = deployment.finish_deploy(deployment.start_deploy())
        traffic.stop_at(summary["released_at"] + 1.0)
        samples = traffic.finish()

    tally = Tally.of(samples)
    started, migrating_from = summary["started_at"], summary["migrate_started_at"]
    released = summary["released_at"]
    migrating = [s for s in samples if migrating_from <= s["started"] < released]
    first_answer = min((s["ended"] for s in migrating), default=0.0) - released
    phases = {
        "before": [s for s in samples if s["ended"] < started],
        # In flight across the migration: what was in flight when the hold began was
        # drained before it started, so these waited for the release.
        "held": [s for s in samples if s["started"] < released and s["ended"] > migrating_from],
        "after": [s for s in samples if s["started"] > released],
    }
    writes = {name: sum(s["method"] == "POST" for s in group) for name, group in phases.items()}
    print(
        f"\nE2E migration deploy {example.name}: sent={tally.sent} failed={len(tally.failed)} "
        f"failed_on_reused={tally.failed_on_reused} held={summary['requests']['held']} "
        f"longest={tally.longest:.2f}s hold_window={summary['held_seconds']:.2f}s "
        f"migration_window={released - migrating_from:.2f}s "
        f"sent_during_migration={len(migrating)} "
        f"first_answer_after_release={first_answer:+.3f}s "
        f"writes={sum(s['method'] == 'POST' for s in samples)} "
        f"(before={writes['before']} held={writes['held']} after={writes['after']})"
    )

    assert summary["outcome"] == "success"
    assert summary["pending"] is True
    assert summary["gated"] is True
    assert summary["requests"]["held"] >= 1
    assert summary["requests"]["rejected"] == 0
    assert not tally.failed, failures(samples)
    # Reads and writes before the deploy, held through the migration, and after the
    # release: the same code works with the schema before and after the migration. (The
    # open-loop traffic alternates reads and writes and keeps arriving through the hold.)
    for name, group in phases.items():
        assert {s["method"] for s in group} == {"GET", "POST"}, f"{name}: {group[:5]}"

    # Every write answered 201 is in the database, once, as sent, with its word count.
    posts = [s for s in samples if s["method"] == "POST"]
    written = {s["note_id"]: f"e2e {s['number']}" for s in posts}
    assert len(written) == len(posts) >= 1
    notes = deployment.notes()
    assert {note_id: text for note_id, (text, _) in notes.items()} == written
    assert all(words == 2 for _, words in notes.values())

    # The requests made during the migration were held, then answered.
    assert migrating, "no request was made during the migration"
    early = [s for s in migrating if s["ended"] < released - RELEASE_SLACK]
    assert not early, f"answered before the release at {released}: {early[:5]}"

    # The migration really ran: every old note is counted now.
    assert deployment.at_head()
    assert backfill_gaps(deployment.database, example.table) == 0


def test_code_only_deploy_holds_nobody(deployment: Deployment, tmp_path: Path) -> None:
    example = deployment.example
    deployment.ensure_migrated()
    with TrafficRun(deployment.server.port, example.path, tmp_path) as traffic:
        traffic.wait_flowing()
        before = deployment.held_totals(since=time.time())
        started = time.time()
        summary = deployment.finish_deploy(deployment.start_deploy())
        after = deployment.held_totals(since=time.time())
        traffic.stop_at(time.time() + 0.5)
        samples = traffic.finish()

    tally = Tally.of(samples)
    during = [s for s in samples if s["started"] >= started]
    print(
        f"\nE2E code-only deploy {example.name}: sent={tally.sent} failed={len(tally.failed)} "
        f"failed_on_reused={tally.failed_on_reused} "
        f"held={sum(after.values()) - sum(before.values())} "
        f"longest={tally.longest:.2f}s sent_during_deploy={len(during)}"
    )
    assert summary["pending"] is False
    assert summary["gated"] is False
    assert summary["outcome"] == "not-pending"
    assert summary["exit_code"] == 0
    assert before.keys() <= after.keys()
    assert {proc: after[proc] for proc in before} == before, "a request was held"
    assert deployment.client.get(deployment.keys.state) in (None, "open")
    assert not tally.failed, failures(samples)
    assert during


def test_graceful_restart_under_traffic_fails_no_request(
    deployment: Deployment, tmp_path: Path
) -> None:
    example = deployment.example
    deployment.ensure_migrated()
    old = deployment.workers()
    assert len(old) == 2, old
    with TrafficRun(deployment.server.port, example.path, tmp_path) as traffic:
        traffic.wait_flowing()
        # gunicorn: new workers (the app loaded afresh: no --preload), the old ones stop
        # gracefully. uvicorn >= 0.51: one worker at a time, each replacement ready
        # before the worker it replaces is told to stop.
        signalled = time.time()
        deployment.server.signal(signal.SIGHUP)
        new = wait_for(
            lambda: replacements(deployment, old), 30, interval=0.02, what="new workers only"
        )
        replaced = time.time()
        # New workers serve: a gate report from one of them, requests answered after.
        wait_for(
            lambda: any(report.get("pid") in new for report in deployment.reports()),
            10,
            interval=0.02,
            what="a new worker to serve",
        )
        traffic.stop_at(time.time() + 1.0)
        samples = traffic.finish()

    tally = Tally.of(samples)
    print(
        f"\nE2E graceful restart {example.name}: sent={tally.sent} failed={len(tally.failed)} "
        f"failed_on_reused={tally.failed_on_reused} longest={tally.longest:.2f}s "
        f"restart={replaced - signalled:.2f}s old={sorted(old)} new={sorted(new)}"
    )
    assert not tally.failed, f"{failures(samples)}\n{deployment.server.output()}"
    assert [s for s in samples if s["started"] > replaced]
