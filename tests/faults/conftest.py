"""Fixtures for the fault suite: journaled apps under real servers, with load."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tools.loadgen import Load

from tests.support.servers import Server, gunicorn, uvicorn

KINDS = ["gunicorn", "uvicorn"]
FAST = {"GATEKEEPER_POLL_INTERVAL": "0.2", "GATEKEEPER_HOLD_TIMEOUT": "8"}


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal"


ServeFactory = Callable[..., Server]


@pytest.fixture
def serve(journal: Path, prefix: str) -> Iterator[ServeFactory]:
    """Start the journaled app: ``serve(kind, redis_url, **env)``; stopped after the test."""
    servers: list[Server] = []

    def factory(kind: str, redis_url: str, workers: int = 2, **env: str) -> Server:
        full = {
            **FAST,
            "GATEKEEPER_REDIS_URL": redis_url,
            "GATEKEEPER_PREFIX": prefix,
            "JOURNAL_PATH": str(journal),
            **env,
        }
        if kind == "gunicorn":
            server = gunicorn("tests.support.apps.journal:wsgi_app", full, workers=workers)
        else:
            server = uvicorn("tests.support.apps.journal:asgi_app", full, workers=workers)
        servers.append(server)
        server.start()
        return server

    yield factory
    for server in servers:
        server.stop()


def steady_load(
    server: Server, workers: int = 6, pause: float = 0.01, first_number: int = 0
) -> Load:
    """Reads and writes with unique ids in X-Request-Id, answered or 503 within 15 s."""

    def request(n: int) -> tuple[str, str, bytes]:
        return ("POST", f"/w/{n}", b"{}") if n % 3 == 0 else ("GET", f"/r/{n}", b"")

    return Load(
        "127.0.0.1",
        server.port,
        workers=workers,
        pause=pause,
        timeout=15,
        next_request=request,
        id_header="X-Request-Id",
        first_number=first_number,
    )
