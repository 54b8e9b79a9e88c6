"""The ASGI middleware in-process (real redis-server): open, maintenance, WebSockets.

Each test runs under asyncio and under trio (``run_async``); the holds of HTTP requests
are in test_asgi_hold.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import redis

from gatekeeper import ASGIMiddleware
from gatekeeper.state.keys import Keys
from tests.support.asgi_support import Exchange, RecordingApp, call, http_scope, until
from tests.support.helpers import set_state

Run = Callable[..., Any]
TIMEOUT = 5.0


def websocket_scope(**extra: Any) -> dict[str, Any]:
    return {"type": "websocket", "path": "/ws", "headers": [], "client": ("127.0.0.1", 1), **extra}


def test_open_passes_and_lifespan_is_untouched(
    run_async: Run, middleware: Callable[..., ASGIMiddleware], app: RecordingApp
) -> None:
    mw = middleware()

    async def scenario() -> None:
        lifespan = Exchange([{"type": "lifespan.startup"}])
        await mw({"type": "lifespan", "asgi": {"version": "3.0"}}, lifespan.receive, lifespan.send)
        assert lifespan.sent == [{"type": "lifespan.startup.complete"}]
        exchange = await call(mw, http_scope("POST", "/x"), b"payload")
        assert (exchange.status, exchange.body) == (200, b"ok:payload")

    run_async(scenario)
    assert app.scopes == ["lifespan", "http"]


def test_maintenance_answers_json_503(
    run_async: Run,
    middleware: Callable[..., ASGIMiddleware],
    app: RecordingApp,
    r: redis.Redis,
    keys: Keys,
) -> None:
    set_state(r, keys, "maintenance", message="brb", retry_after="12")
    mw = middleware()

    async def scenario() -> Exchange:
        return await call(mw, http_scope(headers=[(b"accept", b"application/json")]))

    exchange = run_async(scenario)
    assert exchange.status == 503
    assert exchange.header(b"retry-after") == b"12"
    assert json.loads(exchange.body)["message"] == "brb"
    assert app.calls == []


def test_websocket_refused_under_maintenance(
    run_async: Run,
    middleware: Callable[..., ASGIMiddleware],
    app: RecordingApp,
    r: redis.Redis,
    keys: Keys,
) -> None:
    set_state(r, keys, "maintenance")
    mw = middleware()
    plain = Exchange([{"type": "websocket.connect"}])
    rich = Exchange([{"type": "websocket.connect"}])

    async def scenario() -> None:
        await mw(websocket_scope(), plain.receive, plain.send)
        extensions = {"websocket.http.response": {}}
        await mw(websocket_scope(extensions=extensions), rich.receive, rich.send)

    run_async(scenario)
    assert plain.sent == [{"type": "websocket.close", "code": 1013}]
    assert rich.status == 503
    assert app.calls == []


def test_websocket_held_then_accepted(
    run_async: Run,
    middleware: Callable[..., ASGIMiddleware],
    app: RecordingApp,
    r: redis.Redis,
    keys: Keys,
) -> None:
    mw = middleware(hold_timeout=10)
    set_state(r, keys, "hold")
    watcher = mw.gate.watcher
    exchange = Exchange([{"type": "websocket.connect"}])

    async def scenario() -> None:
        await until(lambda: watcher.wait_ready().mode.value == "hold")
        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(mw, websocket_scope(), exchange.receive, exchange.send)
                await until(lambda: watcher.counters.held == 1)
                assert exchange.sent == []
                set_state(r, keys, "open")

    run_async(scenario)
    assert exchange.sent[0] == {"type": "websocket.accept"}
    assert app.calls == [("WS", "/ws", b"")]
    assert watcher.counters.inflight == 0  # websockets never count toward the drain
