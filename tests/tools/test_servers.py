"""The gate under real servers (gunicorn, uvicorn), driven over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from gatekeeper.testing import RedisServer
from tests.support.helpers import set_state, wait_for
from tests.support.servers import Server, gunicorn, uvicorn

SERVERS: dict[str, Callable[[dict[str, str]], Server]] = {
    "gunicorn-wsgi": lambda env: gunicorn("tests.support.apps.plain_wsgi:app", env),
    "uvicorn-asgi": lambda env: uvicorn("tests.support.apps.plain_asgi:app", env, workers=2),
}


@pytest.fixture(params=sorted(SERVERS), scope="module")
def server_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served(server_kind: str, redis_url: str, prefix: str) -> Iterator[Server]:
    env = {
        "GATEKEEPER_REDIS_URL": redis_url,
        "GATEKEEPER_PREFIX": prefix,
        "GATEKEEPER_POLL_INTERVAL": "0.2",
        "GATEKEEPER_HOLD_TIMEOUT": "10",
    }
    with SERVERS[server_kind](env) as server:
        yield server


def held_total(r: redis.Redis, keys: Keys) -> int:
    return sum(int(report.get("held", 0)) for report in read_processes(r, keys))


def warm_up(server: Server, count: int = 20) -> None:
    # Every worker decides its first request only after its first Redis read.
    with httpx.Client(base_url=server.url, timeout=5) as client:
        for _ in range(count):
            assert client.get("/").status_code == 200


def test_open_state_serves_normally(served: Server) -> None:
    response = httpx.get(served.url + "/", timeout=5)
    assert response.status_code == 200
    assert response.text.startswith("hello from")


def test_hold_then_release_answers_every_request(
    served: Server, r: redis.Redis, keys: Keys
) -> None:
    warm_up(served)
    set_state(r, keys, "hold")
    with ThreadPoolExecutor(12) as pool:
        futures = [
            pool.submit(httpx.post, served.url + f"/orders/{i}", timeout=15) for i in range(12)
        ]
        wait_for(lambda: held_total(r, keys) == 12, 5.0, what="12 requests held")
        assert not any(f.done() for f in futures)
        released = time.perf_counter()
        set_state(r, keys, None)
        statuses = [f.result().status_code for f in futures]
        elapsed = time.perf_counter() - released
    assert statuses == [200] * 12
    assert elapsed < 1.0


def test_maintenance_gives_503_html_and_json(served: Server, r: redis.Redis, keys: Keys) -> None:
    warm_up(served)
    set_state(r, keys, "maintenance", message="Upgrading <db>", retry_after="9")
    page = wait_for(
        lambda: (resp := httpx.get(served.url + "/", timeout=5)).status_code == 503 and resp, 2.0
    )
    assert page.headers["retry-after"] == "9"
    assert "Upgrading &lt;db&gt;" in page.text
    assert 'content="9"' in page.text
    api = httpx.get(served.url + "/", headers={"Accept": "application/json"}, timeout=5)
    assert api.status_code == 503
    assert api.json()["reason"] == "maintenance"
    assert httpx.get(served.url + "/healthz", timeout=5).status_code == 200
    set_state(r, keys, None)
    wait_for(lambda: httpx.get(served.url + "/", timeout=5).status_code == 200, 2.0)


@pytest.mark.parametrize("kind", ["gunicorn-wsgi", "uvicorn-asgi"])
def test_redis_stopped_while_serving_keeps_answering_promptly(kind: str, prefix: str) -> None:
    with RedisServer() as redis_server:
        env = {
            "GATEKEEPER_REDIS_URL": redis_server.url,
            "GATEKEEPER_PREFIX": prefix,
            "GATEKEEPER_STALE_TIMEOUT": "1",
        }
        with SERVERS[kind](env) as server:
            warm_up(server)
            redis_server.stop(kill=True)
            with httpx.Client(base_url=server.url, timeout=5) as client:
                for _ in range(50):
                    started = time.perf_counter()
                    assert client.get("/").status_code == 200
                    assert time.perf_counter() - started < 0.5
