"""Why the gate: the Django example's pending migration run without it, under the same
traffic as the gated deploy in test_deploys.py.

Migration 0002 holds SQLite's write lock from its first statement (``CREATE INDEX``) to
its commit: 3 to 5 s with this seed, here, under the traffic. A write that arrives
meanwhile waits for the lock up to the example's busy timeout (one second,
``SQLITE_BUSY_TIMEOUT`` in example_project/database.py) and fails with "database is
locked": a 500, and a note lost. Reads go on (WAL mode). The same migration through
``manage.py gatekeeper run-migration`` fails no request (test_deploys.py).

Deterministic as long as the lock is held clearly longer than the busy timeout: a write
starts every few milliseconds, so some write waits the whole second inside the lock. The
seed (0.2 ms a note, 15,000 notes) leaves a margin for a machine twice as fast; a slower
or busier machine only lengthens the lock.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from gatekeeper.testing import RedisServer
from tests.e2e.harness import DJANGO, OK, Tally, TrafficRun, deployed
from tests.examples.support import backfill_gaps

BUSY_TIMEOUT = 1.0
"""The example's SQLite busy timeout (example_project/database.py)."""
EXAMPLE = dataclasses.replace(DJANGO, seed_rows=15_000)
"""The Django example as test_deploys.py serves it, with a lock well over the timeout."""
STALLED = 0.5
"""A write answered ``201`` after this long waited for the lock (unheld, a write takes
milliseconds)."""


def test_migration_without_the_gate_fails_writes(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    if redis_server.process is None:  # an earlier test stopped it; bring it back
        redis_server.start()
    directory = tmp_path_factory.mktemp("e2e-ungated")
    with deployed(EXAMPLE, redis_server.url, directory) as deployment:
        assert backfill_gaps(deployment.database, EXAMPLE.table) == EXAMPLE.seed_rows
        with TrafficRun(deployment.server.port, EXAMPLE.path, tmp_path) as traffic:
            traffic.wait_flowing()
            started = time.time()
            deployment.command(EXAMPLE.upgrade)  # `manage.py migrate`: no gate
            ended = time.time()
            traffic.stop_at(ended + 1.0)
            samples = traffic.finish()
        log = deployment.server.output()
        notes = deployment.notes()
        at_head = deployment.at_head()

    tally = Tally.of(samples)
    during = [s for s in samples if started <= s["started"] < ended]
    writes_during = [s for s in during if s["method"] == "POST"]
    failed_writes = [s for s in tally.failed if s["method"] == "POST"]
    answered = [s for s in writes_during if s["status"] == 201]
    stalled = [s for s in answered if s["ended"] - s["started"] > STALLED]
    print(
        f"\nE2E migration without the gate {EXAMPLE.name}: sent={tally.sent} "
        f"failed={len(tally.failed)} failed_writes={len(failed_writes)} "
        f"stalled_writes={len(stalled)} of writes_during_migration={len(writes_during)} "
        f"failed_reads={len(tally.failed) - len(failed_writes)} migration={ended - started:.2f}s "
        f"slowest_failure={max((s['ended'] - s['started'] for s in tally.failed), default=0):.2f}s"
    )

    # Some writes failed: each a 500 after waiting the busy timeout for the migration's
    # lock ("database is locked" in the server's log), sent while the migration ran.
    assert failed_writes, f"no write failed during a {ended - started:.2f} s migration"
    assert "database is locked" in log, log
    for sample in failed_writes:
        assert sample["status"] == 500, sample
        assert started <= sample["started"] < ended, sample
        assert sample["ended"] - sample["started"] >= BUSY_TIMEOUT * 0.9, sample
    # Only writes: reads go on in WAL mode.
    assert {s["method"] for s in tally.failed} == {"POST"}, tally.failed[:5]

    # The failed writes are lost; the others are stored once, as sent.
    created = {s["note_id"]: f"e2e {s['number']}" for s in samples if s["status"] in OK}
    created.pop(None, None)  # reads
    assert {note_id: text for note_id, (text, _) in notes.items()} == created

    # The migration itself went through.
    assert at_head
    assert backfill_gaps(deployment.database, EXAMPLE.table) == 0
