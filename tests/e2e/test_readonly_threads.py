"""Read-only under a thread-based server: held writes must not take every thread from the
reads. gunicorn gthread (2 workers x 25 threads, the shipped hooks), open-loop traffic at
200 req/s (3 GET : 1 POST), a 6 s ``--mode readonly`` migration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

from benchmarks.reload_hosts import touch
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import free_port
from tests.support.helpers import wait_for
from tests.support.servers import BIN, ROOT, Server
from tools import openloop

pytestmark = pytest.mark.slow


def _gthread(redis_url: str, prefix: str, journal: Path, env: dict[str, str]) -> Server:
    port = free_port()
    argv = [
        str(BIN / "gunicorn"), "tests.support.apps.journal:wsgi_app", "--bind", f"127.0.0.1:{port}",
        "--workers", "2", "--worker-class", "gthread", "--threads", "25",
        "--log-level", "warning", "-c", "python:gatekeeper.contrib.gunicorn",
    ]  # fmt: skip
    base = {"GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix}
    return Server(argv, port, {**base, "JOURNAL_PATH": str(journal), **env})


def _migrate(redis_url: str, prefix: str) -> dict[str, float]:
    env = {**os.environ, "GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix}
    done = subprocess.run(
        [sys.executable, "-m", "gatekeeper", "run-migration", "--mode", "readonly",
         "--max-hold", "20", "--min-processes", "2", "--json", "--", "sleep", "6"],
        env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    ("cap", "reads_flow"),
    [pytest.param("auto", True, id="auto-cap"), pytest.param("1000", False, id="no-cap")],
)
def test_readonly_under_gthread_reads_answered_within_1s(
    redis_url: str, prefix: str, cap: str, reads_flow: bool
) -> None:
    journal = Path(tempfile.mkstemp(prefix="gk-journal-")[1])
    env = {"GATEKEEPER_MAX_HELD_WRITES": cap}
    try:
        with _gthread(redis_url, prefix, journal, env) as server:
            run = openloop.start(server.url + "/", 200, 30, path_read="/read", path_write="/write")
            # Steady traffic first, until both workers report in. A worker starts its
            # watcher on its first request, and the generator's few kept-alive
            # connections may all sit on one worker: fresh connections reach the other.
            client = redis.Redis.from_url(redis_url)

            def both_report() -> bool:
                touch(server.port)
                return len(read_processes(client, Keys(prefix))) == 2

            wait_for(both_report, timeout=10)
            client.close()
            time.sleep(0.5)
            migration = _migrate(redis_url, prefix)
            time.sleep(1.0)
            run.stop()
            result = run.result(60)
    finally:
        lines = journal.read_text().splitlines()
        journal.unlink()
    start, end = migration["migrate_started_at"], migration["released_at"]
    during = [
        record for record in result.records
        if start <= result.started_at + record.scheduled < end
    ]  # fmt: skip
    reads = [record for record in during if record.method == "GET"]
    quick = [
        record for record in reads
        if record.status == 200 and record.latency is not None and record.latency <= 1.0
    ]  # fmt: skip
    share = len(quick) / len(reads)
    writes = [record for record in during if record.method == "POST"]
    statuses = sorted((record.status for record in writes), reverse=True)
    print(
        f"max_held_writes={cap}: {len(quick)} of {len(reads)} reads within 1 s ({share:.1%}); "
        f"writes: {statuses.count(200)} held and stored, {statuses.count(503)} answered 503"
    )
    assert len(reads) >= 800  # 150 reads/s over a 6 s migration
    assert not [record for record in result.records if record.error]  # no reset, no timeout
    if not reads_flow:
        # The control: without the cap, held writes take the threads and reads queue.
        assert share < 0.95
        return
    assert share >= 0.95
    assert {record.status for record in writes} <= {200, 503}
    journaled = [line.split(" ", 1)[0] for line in lines]
    answered = {r.request_id for r in result.records if r.request_id and r.status == 200}
    turned_away = {r.request_id for r in result.records if r.request_id and r.status == 503}
    assert answered <= set(journaled)
    assert not turned_away & set(journaled)  # a 503 never reached the app
    assert len([rid for rid in journaled if rid in answered]) == len(answered)  # once each
