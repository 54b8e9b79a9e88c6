"""Fixtures for the fault suite: journaled apps under real servers, with load."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.servers import Server, gunicorn, uvicorn
from tools.openloop import OpenLoopRun, start

KINDS = ["gunicorn", "uvicorn"]
FAST = {"GATEKEEPER_POLL_INTERVAL": "0.2", "GATEKEEPER_HOLD_TIMEOUT": "8"}


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal"


ServeFactory = Callable[..., Server]


@pytest.fixture
def serve(journal: Path, prefix: str) -> Iterator[ServeFactory]:
    """Start the journaled app: ``serve(kind, redis_url, **env)``; stopped after the test.
    ``hooks``: gunicorn with gatekeeper's hooks, whose workers report in as they boot."""
    servers: list[Server] = []

    def factory(
        kind: str, redis_url: str, workers: int = 2, hooks: bool = False, **env: str
    ) -> Server:
        full = {
            **FAST,
            "GATEKEEPER_REDIS_URL": redis_url,
            "GATEKEEPER_PREFIX": prefix,
            "JOURNAL_PATH": str(journal),
            **env,
        }
        if kind == "gunicorn":
            server = gunicorn(
                "tests.support.apps.journal:wsgi_app", full, workers=workers, hooks=hooks
            )
        else:
            server = uvicorn("tests.support.apps.journal:asgi_app", full, workers=workers)
        servers.append(server)
        server.start()
        return server

    yield factory
    for server in servers:
        server.stop()


def steady_load(
    server: Server, rate: float = 200, seconds: float = 60, path: str = "", writes_every: int = 3
) -> OpenLoopRun:
    """Open-loop reads and writes (under ``path``) at ``rate`` a second, started: each
    with a unique X-Request-Id (the app journals it), answered or 503 within 15 s, the
    503's Retry-After in the record's ``tag``. Stop it with ``finish()``."""
    return start(
        f"{server.url}{path}/", rate, seconds, writes_every=writes_every, ids_on_reads=True,
        tag_header="Retry-After", timeout=15,
    )  # fmt: skip
