"""examples/flask_app under gunicorn (2 gthread workers), deployed with
``flask gatekeeper run-migration``, against a real redis-server."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gatekeeper.state.keys import Keys
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
from tests.support.servers import Server, gunicorn

EXAMPLE = EXAMPLES / "flask_app"
FLASK = [sys.executable, "-m", "flask"]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flask-example") / "notes.db"


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(f"gkflask{os.getpid()}")


@pytest.fixture(scope="module")
def env(database: Path, redis_server: RedisServer, keys: Keys) -> dict[str, str]:
    if redis_server.process is None:  # an earlier test stopped it; bring it back
        redis_server.start()
    env = example_env(database, redis_server.url, keys.prefix)
    assert run([*FLASK, "db", "upgrade"], EXAMPLE, env).returncode == 0
    return env


@pytest.fixture(scope="module")
def served(env: dict[str, str]) -> Iterator[Server]:
    with gunicorn("app:create_app()", env, workers=2, threads=8, cwd=EXAMPLE) as server:
        yield server


def test_gunicorn_serves_notes_and_honours_maintenance(
    served: Server, r: redis.Redis, keys: Keys
) -> None:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/notes").json() == {"count": SEED_ROWS}
        created = client.post("/notes", json={"text": "deploy without errors"})
        assert created.status_code == 201
        assert created.json()["words"] == 3
        assert "Notes, served by Flask" in client.get("/").text

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


def test_run_migration_holds_traffic_while_the_slow_revision_applies(
    served: Server, env: dict[str, str], database: Path
) -> None:
    # Reset to "all but the last revision applied", as before a deploy.
    assert run([*FLASK, "db", "downgrade", "0001"], EXAMPLE, env).returncode == 0

    # The rollback set every note back to "not counted yet": the backfill has work to do.
    assert backfill_gaps(database) >= SEED_ROWS
    with Traffic(served.url + "/notes") as traffic:
        wait_for(lambda: traffic.answered_after(0), what="reads and writes to flow")
        deploy = run([*FLASK, "gatekeeper", "run-migration", "--json"], EXAMPLE, env)
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
