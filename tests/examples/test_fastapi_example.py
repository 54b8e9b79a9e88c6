"""examples/fastapi_app under uvicorn (2 workers), deployed with
``gatekeeper run-migration -- alembic upgrade head``, against a real redis-server."""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import RedisServer
from tests.examples.support import (
    EXAMPLES,
    SEED_ROWS,
    Traffic,
    backfill_gaps,
    check_traffic_through_deploy,
    example_env,
    run,
    set_state,
)
from tests.support.helpers import wait_for
from tests.support.servers import BIN, Server, uvicorn

EXAMPLE = EXAMPLES / "fastapi_app"
ALEMBIC = [str(BIN / "alembic")]
PENDING_CHECK = [*ALEMBIC, "current", "--check-heads"]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fastapi-example") / "notes.db"


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(f"gkfastapi{os.getpid()}")


@pytest.fixture(scope="module")
def env(database: Path, redis_server: RedisServer, keys: Keys) -> dict[str, str]:
    if redis_server.process is None:  # an earlier test stopped it; bring it back
        redis_server.start()
    env = example_env(database, redis_server.url, keys.prefix)
    assert run([*ALEMBIC, "upgrade", "head"], EXAMPLE, env).returncode == 0
    return env


@pytest.fixture(scope="module")
def served(env: dict[str, str]) -> Iterator[Server]:
    with uvicorn("app:app", env, workers=2, cwd=EXAMPLE) as server:
        yield server


def test_uvicorn_serves_notes_and_honours_maintenance(
    served: Server, r: redis.Redis, keys: Keys
) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/notes").json() == {"count": SEED_ROWS}
        created = client.post("/notes", json={"text": "deploy without errors"})
        assert created.status_code == 201
        assert created.json()["words"] == 3
        assert client.post("/notes", json={"text": ""}).status_code == 422
        assert "Notes, served by FastAPI" in client.get("/").text

        set_state(r, keys, "maintenance")
        try:
            # Several in a row: each worker hears the PUBLISH on its own, within moments.
            wait_for(lambda: {client.get("/notes").status_code for _ in range(6)} == {503})
            api = client.get("/notes", headers={"Accept": "application/json"})
            assert api.json()["reason"] == "maintenance"
            page = client.get("/", headers={"Accept": "text/html"})
            assert page.status_code == 503
            assert 'http-equiv="refresh"' in page.text
            assert client.get("/healthz").status_code == 200
        finally:
            set_state(r, keys, None)
        wait_for(lambda: client.get("/notes").status_code == 200, what="the gate to open")


def test_pending_check_exits_nonzero_only_when_a_revision_is_pending(
    env: dict[str, str],
) -> None:
    assert run(PENDING_CHECK, EXAMPLE, env).returncode == 0
    assert run([*ALEMBIC, "downgrade", "-1"], EXAMPLE, env).returncode == 0
    assert run(PENDING_CHECK, EXAMPLE, env).returncode != 0


def test_run_migration_holds_traffic_while_the_slow_revision_applies(
    served: Server, env: dict[str, str], database: Path
) -> None:
    # "All but the last revision applied", as before a deploy (a no-op after the test above).
    assert run([*ALEMBIC, "downgrade", "0001"], EXAMPLE, env).returncode == 0
    deploy_argv = [
        sys.executable, "-m", "gatekeeper", "run-migration", "--json",
        "--if-pending", shlex.join(PENDING_CHECK), "--", *ALEMBIC, "upgrade", "head",
    ]  # fmt: skip
    # The rollback set every note back to "not counted yet": the backfill has work to do.
    assert backfill_gaps(database) >= SEED_ROWS
    with Traffic(served.url + "/notes") as traffic:
        wait_for(lambda: traffic.answered_after(0), what="reads and writes to flow")
        deploy = run(deploy_argv, EXAMPLE, env)
        assert deploy.returncode == 0
        summary = json.loads(deploy.stdout.splitlines()[-1])  # after the check's own output
        wait_for(
            lambda: traffic.answered_after(summary["released_at"]),
            what="reads and writes after the release",
        )
    assert summary["outcome"] == "success"
    assert summary["pending"] is True
    assert summary["gated"] is True
    assert summary["requests"]["held"] >= 1
    assert summary["requests"]["rejected"] == 0
    check_traffic_through_deploy(traffic, summary, database)
    assert backfill_gaps(database) == 0


BURST = 300
"""Requests queued behind a hold: far more than anyio's 40 worker threads and the pool's
15 connections (5 + 10 overflow) of the two workers together."""


def test_a_released_burst_larger_than_the_pool_is_answered_at_once(
    served: Server, r: redis.Redis, keys: Keys
) -> None:
    # A sync endpoint that kept its pooled connection until FastAPI's cleanup thread ran
    # deadlocked here: every worker thread waited for a connection only a thread could
    # give back, until the pool's 30 s timeout (500s, then client timeouts).
    statuses: list[int | str] = []
    answered: list[float] = []

    def one(number: int) -> None:
        with httpx.Client(base_url=served.url, timeout=25) as client:
            try:
                if number % 2:
                    status = client.post("/notes", json={"text": f"burst {number}"}).status_code
                else:
                    status = client.get("/notes").status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
        statuses.append(status)
        answered.append(time.monotonic())

    def held_now() -> int:
        return sum(int(report.get("held", 0)) for report in read_processes(r, keys))

    set_state(r, keys, "hold")
    threads = [threading.Thread(target=one, args=(n,)) for n in range(BURST)]
    try:
        wait_for(
            lambda: [rep.get("mode") for rep in read_processes(r, keys)] == ["hold", "hold"],
            what="both workers to report the hold",
        )
        for thread in threads:
            thread.start()
        wait_for(lambda: held_now() == BURST, 15, what=f"{BURST} requests held")
    finally:
        released = time.monotonic()
        set_state(r, keys, None)
        for thread in threads:
            thread.join(30)
    print(f"\nburst of {BURST}: {Counter(statuses)}, last answer {max(answered) - released:.2f}s")
    assert Counter(statuses) == {200: BURST // 2, 201: BURST // 2}
    assert max(answered) - released < 10
