"""The ASGI middleware in-process (real event loop, real redis-server)."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis

from gatekeeper import ASGIMiddleware, Gate
from gatekeeper.state.keys import Keys
from tests.support.asgi_support import Exchange, RecordingApp, call, http_scope, until
from tests.support.helpers import set_state

Message = dict[str, Any]


@pytest.fixture
def app() -> RecordingApp:
    return RecordingApp()


@pytest.fixture
def middleware(make_gate: Callable[..., Gate], app: RecordingApp) -> Callable[..., ASGIMiddleware]:
    def factory(**options: Any) -> ASGIMiddleware:
        return ASGIMiddleware(app, gate=make_gate(**options))

    return factory


async def test_open_passes_and_lifespan_is_untouched(
    middleware: Callable[..., ASGIMiddleware], app: RecordingApp
) -> None:
    mw = middleware()
    lifespan = Exchange([{"type": "lifespan.startup"}])
    await mw({"type": "lifespan", "asgi": {"version": "3.0"}}, lifespan.receive, lifespan.send)
    assert lifespan.sent == [{"type": "lifespan.startup.complete"}]
    exchange = await call(mw, http_scope("POST", "/x"), b"payload")
    assert (exchange.status, exchange.body) == (200, b"ok:payload")
    assert app.scopes == ["lifespan", "http"]


async def test_maintenance_answers_json_503(
    middleware: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    set_state(r, keys, "maintenance", message="brb", retry_after="12")
    mw = middleware()
    exchange = await call(mw, http_scope(headers=[(b"accept", b"application/json")]))
    assert exchange.status == 503
    assert exchange.header(b"retry-after") == b"12"
    assert json.loads(exchange.body)["message"] == "brb"
    assert app.calls == []


async def test_held_requests_released_with_their_bodies(
    middleware: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = middleware(hold_timeout=10)
    set_state(r, keys, "hold")
    watcher = mw.gate.watcher
    await until(lambda: watcher.wait_ready().mode.value == "hold")
    tasks = [
        asyncio.create_task(call(mw, http_scope("POST", f"/w{i}"), b"b%d" % i)) for i in range(50)
    ]
    await until(lambda: watcher.counters.held == 50)
    assert app.calls == []
    set_state(r, keys, None)
    exchanges = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert [e.status for e in exchanges] == [200] * 50
    assert sorted(app.calls) == sorted(("POST", f"/w{i}", b"b%d" % i) for i in range(50))
    assert watcher.counters.held == 0
    assert watcher.counters.inflight == 0


async def test_client_disconnect_while_held_frees_waiter_and_skips_app(
    middleware: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = middleware(hold_timeout=10)
    set_state(r, keys, "hold")
    watcher = mw.gate.watcher
    await until(lambda: watcher.wait_ready().mode.value == "hold")
    exchange = Exchange([{"type": "http.request", "body": b"x", "more_body": False}])
    task = asyncio.create_task(mw(http_scope("POST"), exchange.receive, exchange.send))
    await until(lambda: watcher.counters.held == 1)
    exchange.queue.put_nowait({"type": "http.disconnect"})
    await asyncio.wait_for(task, 2)
    assert exchange.sent == []
    assert app.calls == []
    assert watcher.counters.held == 0


async def test_websocket_refused_under_maintenance(
    middleware: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    set_state(r, keys, "maintenance")
    mw = middleware()
    scope = {"type": "websocket", "path": "/ws", "headers": [], "client": ("127.0.0.1", 1)}
    plain = Exchange([{"type": "websocket.connect"}])
    await mw(scope, plain.receive, plain.send)
    assert plain.sent == [{"type": "websocket.close", "code": 1013}]
    rich = Exchange([{"type": "websocket.connect"}])
    await mw({**scope, "extensions": {"websocket.http.response": {}}}, rich.receive, rich.send)
    assert rich.status == 503
    assert app.calls == []


async def test_websocket_held_then_accepted(
    middleware: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = middleware(hold_timeout=10)
    set_state(r, keys, "hold")
    watcher = mw.gate.watcher
    await until(lambda: watcher.wait_ready().mode.value == "hold")
    exchange = Exchange([{"type": "websocket.connect"}])
    scope = {"type": "websocket", "path": "/ws", "headers": [], "client": ("127.0.0.1", 1)}
    task = asyncio.create_task(mw(scope, exchange.receive, exchange.send))
    await until(lambda: watcher.counters.held == 1)
    set_state(r, keys, "open")
    await asyncio.wait_for(task, 3)
    assert exchange.sent[0] == {"type": "websocket.accept"}
    assert watcher.counters.inflight == 0  # websockets never count toward the drain


async def test_thousand_held_requests_all_answered_on_release(
    middleware: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = middleware(hold_timeout=20)
    set_state(r, keys, "hold")
    watcher = mw.gate.watcher
    await until(lambda: watcher.wait_ready().mode.value == "hold")
    tasks = [asyncio.create_task(call(mw, http_scope())) for _ in range(1000)]
    await until(lambda: watcher.counters.held == 1000, 10)
    set_state(r, keys, "open")
    exchanges = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert all(e.status == 200 for e in exchanges)
    assert len(app.calls) == 1000


async def test_receive_failing_after_a_held_503_leaves_nothing_unretrieved(
    middleware: Callable[..., ASGIMiddleware],
    app: RecordingApp,
    r: redis.Redis,
    keys: Keys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_state(r, keys, "hold")
    mw = middleware(hold_timeout=0.1)
    queue: asyncio.Queue[Message | Exception] = asyncio.Queue()
    queue.put_nowait({"type": "http.request", "body": b"", "more_body": False})
    sent: list[Message] = []

    async def receive() -> Message:
        item = await queue.get()
        if isinstance(item, Exception):
            raise item
        return item

    async def send(message: Message) -> None:
        sent.append(message)

    await mw(http_scope("POST", "/w"), receive, send)
    assert sent[0]["status"] == 503
    queue.put_nowait(OSError("connection lost"))  # the server's read fails afterwards
    await until(lambda: queue.empty())
    await asyncio.sleep(0)  # one loop step: the failed read's callbacks run
    gc.collect()
    assert app.calls == []
    assert not [rec for rec in caplog.records if "never retrieved" in rec.getMessage()]
