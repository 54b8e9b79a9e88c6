"""Held requests under each event loop hypercorn runs: trio, asyncio and uvloop, over HTTP.

The gate holds on its own loop's primitives: under ``hypercorn -k trio`` there is no
asyncio loop at all, and a held request must still be released to the app, turned away
at its deadline, dropped when its client leaves, and a held WebSocket accepted.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import read_processes
from tests.support.helpers import set_state, wait_for
from tests.support.servers import Server
from tools.procs import free_port

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
APP = "tests.support.apps.any_loop_asgi:app"
WORKERS = ["trio", "asyncio", "uvloop"]


@pytest.fixture(params=WORKERS)
def server(request: pytest.FixtureRequest, redis_url: str, prefix: str) -> Iterator[Server]:
    port = free_port()
    argv = [
        str(BIN / "hypercorn"), APP, "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--worker-class", request.param,
    ]  # fmt: skip
    env = {
        "GATEKEEPER_REDIS_URL": redis_url,
        "GATEKEEPER_PREFIX": prefix,
        "GATEKEEPER_POLL_INTERVAL": "0.2",
        "GATEKEEPER_HOLD_TIMEOUT": "30",
    }
    with Server(argv, port, env) as started:
        yield started


def _held(r: redis.Redis, keys: Keys) -> int:
    return sum(int(report.get("held", 0)) for report in read_processes(r, keys))


def _hold(r: redis.Redis, keys: Keys, state: str = "hold", **info: object) -> None:
    set_state(r, keys, state, **info)
    wait_for(lambda: any(p.get("mode") == state for p in read_processes(r, keys)), what=state)


def _request(
    port: int, method: str, path: str, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection; status, headers (lower-case) and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        head = f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n"
        sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    raw_head, _, raw_body = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    return int(lines[0].split()[1]), headers, raw_body


def test_held_posts_released_to_the_app_with_their_bodies(
    server: Server, r: redis.Redis, keys: Keys
) -> None:
    _hold(r, keys)
    with ThreadPoolExecutor(5) as pool:
        futures = [
            pool.submit(_request, server.port, "POST", f"/w{i}", b"b%d" % i) for i in range(5)
        ]
        wait_for(lambda: _held(r, keys) == 5, what="5 held")
        set_state(r, keys, None)
        answers = [future.result(timeout=10) for future in futures]
    assert [(status, body) for status, _, body in answers] == [
        (200, b"ok:b%d" % i) for i in range(5)
    ]


def test_held_request_past_its_deadline_gets_503_with_retry_after(
    server: Server, r: redis.Redis, keys: Keys
) -> None:
    _hold(r, keys, retry_after="7", hold_until=str(time.time() + 0.5))
    started = time.monotonic()
    status, headers, _ = _request(server.port, "GET", "/late")
    assert (status, headers.get("retry-after")) == (503, "7")
    assert time.monotonic() - started >= 0.4
    set_state(r, keys, None)
    assert "GET /late" not in json.loads(_request(server.port, "GET", "/calls")[2])


def test_held_request_whose_client_left_never_reaches_the_app(
    server: Server, r: redis.Redis, keys: Keys
) -> None:
    _hold(r, keys)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /gone HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
        wait_for(lambda: _held(r, keys) == 1, what="1 held")
    wait_for(lambda: _held(r, keys) == 0, what="the hold ended as the client left")
    set_state(r, keys, None)
    assert _request(server.port, "POST", "/after", b"x")[0] == 200
    calls = json.loads(_request(server.port, "GET", "/calls")[2])
    assert "POST /after" in calls
    assert "POST /gone" not in calls


def test_held_websocket_accepted_on_release_and_refused_under_maintenance(
    server: Server, r: redis.Redis, keys: Keys
) -> None:
    url = f"ws://127.0.0.1:{server.port}/ws"

    def greeting() -> str:
        with connect(url, open_timeout=20) as ws:
            return str(ws.recv(timeout=5))

    _hold(r, keys)
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(greeting)
        wait_for(lambda: _held(r, keys) == 1, what="the WebSocket held")
        set_state(r, keys, None)
        assert future.result(timeout=10) == "hello"
    _hold(r, keys, "maintenance")
    with pytest.raises(InvalidStatus) as refused:
        greeting()
    assert refused.value.response.status_code == 503
