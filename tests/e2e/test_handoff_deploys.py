"""Code and migration deployed in one command: held requests are answered by the new code.

Real gunicorn (gthread, with gatekeeper's hooks) and uvicorn, two workers each, a real
PostgreSQL whose table the migration renames (the old code then fails with
``UndefinedTable``), and open-loop traffic at 100 req/s, half POSTs with bodies, from a
client that follows redirects and never resends a failed request (see handoff_run.py).
"""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path

import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from tests.e2e.handoff_run import Deploy, ServerKind, run_deploy
from tests.support.helpers import set_state, wait_for
from tests.support.postgres import PostgresServer
from tests.support.servers import uvicorn

pytestmark = pytest.mark.slow

MAX_REDIRECTS = 3
"""The bound the README documents for one request (measured: 2 under either server)."""

_prefixes = itertools.count()


def _deploy(
    kind: ServerKind, redis_url: str, postgres: PostgresServer, tmp_path: Path, handoff: bool
) -> Deploy:
    deploy = run_deploy(
        kind, redis_url, f"handoff{next(_prefixes)}", tmp_path,
        handoff=handoff, database_url=postgres.url,
    )  # fmt: skip
    print(kind, "handoff" if handoff else "no handoff", json.dumps(deploy.figures()))
    assert deploy.runner["outcome"] == "success", deploy.runner["stderr"]
    assert len(deploy.held()) >= 300  # about 4.5 s of arrivals at 100/s were held
    return deploy


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_rename_migration_with_handoff_every_held_request_answered_by_new_code(
    kind: ServerKind, redis_url: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    deploy = _deploy(kind, redis_url, postgres, tmp_path, handoff=True)
    assert [(r.index, r.status, r.error) for r in deploy.failed()] == []
    assert {r.tag for r in deploy.during_hold()} == {"v2"}
    journal = deploy.journal
    posts = [r for r in deploy.records if r.method == "POST"]
    # Each POST was run exactly once, with its body intact after its redirects...
    assert sorted(line.request_id for line in journal) == sorted(
        r.request_id for r in posts if r.request_id
    )
    assert {line.intact for line in journal} == {"ok"}
    # ...and every one that arrived after the hold began, by the new code.
    late = {r.request_id for r in posts if r in deploy.during_hold()}
    assert {line.release for line in journal if line.request_id in late} == {"v2"}
    redirected = [r for r in deploy.held() if r.redirects > 0]
    assert len(redirected) >= len(deploy.held()) // 2  # the old processes held them
    assert max(r.redirects for r in deploy.records) <= MAX_REDIRECTS
    assert deploy.runner["handoff_ended_at"] >= deploy.runner["released_at"]
    assert deploy.runner["stragglers"] == []


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_rename_migration_without_handoff_old_code_fails_its_held_requests(
    kind: ServerKind, redis_url: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    # The documented old behaviour: the old processes release what they hold into
    # their own code, which finds the table renamed.
    deploy = _deploy(kind, redis_url, postgres, tmp_path, handoff=False)
    failed_by_v1 = [r for r in deploy.held() if r.status == 500 and r.tag == "v1"]
    assert len(failed_by_v1) >= 50
    assert all(r.redirects == 0 for r in deploy.records)
    assert deploy.runner["requests"]["handed_off"] == 0


def test_websocket_held_in_old_process_closed_with_1012_on_handoff(
    redis_url: str, tmp_path: Path
) -> None:
    prefix = f"handoff{next(_prefixes)}"
    release = tmp_path / "release"
    release.write_text("v1\n")
    env = {
        "GATEKEEPER_REDIS_URL": redis_url, "GATEKEEPER_PREFIX": prefix,
        "GATEKEEPER_POLL_INTERVAL": "0.2", "RELEASE_FILE": str(release),
        "JOURNAL_PATH": str(tmp_path / "journal"),
    }  # fmt: skip
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = Keys(prefix)
    with uvicorn("tests.support.apps.releases:asgi_app", env, workers=1) as server:
        wait_for(lambda: len(read_processes(client, keys)) == 1)
        set_state(client, keys, "hold")
        wait_for(lambda: read_processes(client, keys)[0].get("mode") == "hold")
        closed: list[int | None] = []
        received: list[str | bytes] = []

        def visit() -> None:
            url = server.url.replace("http://", "ws://") + "/ws"
            try:
                with connect(url, open_timeout=20) as ws:
                    received.append(ws.recv(timeout=20))
            except ConnectionClosed as exc:
                closed.append(exc.rcvd.code if exc.rcvd else None)

        visitor = threading.Thread(target=visit)
        visitor.start()
        wait_for(lambda: int(read_processes(client, keys)[0].get("held", 0)) == 1)
        client.set(keys.handoff, "v2", px=10_000)
        set_state(client, keys, "open")
        visitor.join(20)
        assert not visitor.is_alive()
        # Accepted, then closed with 1012 (service restart) before the app ran.
        assert (closed, received) == ([1012], [])
        client.delete(keys.handoff)
        client.publish(keys.events, "handoff")
        wait_for(lambda: read_processes(client, keys)[0].get("keepalive") == "on")
        with connect(server.url.replace("http://", "ws://") + "/ws", open_timeout=10) as ws:
            assert ws.recv(timeout=10) == "v1"
    client.close()
