"""The ASGI middleware's holds in-process (real redis-server): released, turned away at
the deadline, left by their client, and a server's ``receive`` failing meanwhile.

Each test runs under asyncio and under trio (``run_async``). Under trio the read-ahead's
``receive()`` runs in a trio system task: an error escaping there would end the whole run
in ``TrioInternalError``, so a test that returns has shown that none did.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import redis

from gatekeeper import ASGIMiddleware, Gate
from gatekeeper.state.keys import Keys
from tests.support.asgi_support import (
    Message,
    MessageQueue,
    Receive,
    RecordingApp,
    Scope,
    Send,
    http_scope,
    request,
    until,
)
from tests.support.helpers import set_state

Run = Callable[..., Any]
TIMEOUT = 5.0


async def until_held(mw: ASGIMiddleware) -> None:
    watcher = mw.gate.watcher
    await until(lambda: watcher.wait_ready().mode.value == "hold")


def test_held_requests_released_with_their_bodies(
    run_async: Run,
    middleware: Callable[..., ASGIMiddleware],
    app: RecordingApp,
    r: redis.Redis,
    keys: Keys,
) -> None:
    mw = middleware(hold_timeout=10)
    set_state(r, keys, "hold")
    counters = mw.gate.watcher.counters
    exchanges = [request(b"b%d" % i) for i in range(50)]

    async def scenario() -> None:
        await until_held(mw)
        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tasks:
                for i, exchange in enumerate(exchanges):
                    scope = http_scope("POST", f"/w{i}")
                    tasks.start_soon(mw, scope, exchange.receive, exchange.send)
                await until(lambda: counters.held == 50)
                assert app.calls == []
                set_state(r, keys, None)

    run_async(scenario)
    assert [e.status for e in exchanges] == [200] * 50
    assert sorted(app.calls) == sorted(("POST", f"/w{i}", b"b%d" % i) for i in range(50))
    assert counters.held == 0
    assert counters.inflight == 0


def test_hold_reaching_its_deadline_answers_503_and_counts_a_timeout(
    run_async: Run,
    middleware: Callable[..., ASGIMiddleware],
    app: RecordingApp,
    r: redis.Redis,
    keys: Keys,
) -> None:
    mw = middleware(hold_timeout=0.4)
    set_state(r, keys, "hold")
    counters = mw.gate.watcher.counters
    exchange = request(b"x")
    scope = http_scope("POST", "/w", headers=[(b"accept", b"application/json")])

    async def scenario() -> float:
        await until_held(mw)
        started = time.monotonic()
        with anyio.fail_after(TIMEOUT):
            await mw(scope, exchange.receive, exchange.send)
        return time.monotonic() - started

    waited = run_async(scenario)
    assert exchange.status == 503
    assert json.loads(exchange.body)["reason"] == "hold-timeout"
    assert 0.35 <= waited < 2.0
    assert (counters.timed_out_total, counters.released_total) == (1, 0)
    assert counters.held == 0
    assert app.calls == []


def test_client_disconnect_while_held_frees_waiter_and_skips_app(
    run_async: Run,
    middleware: Callable[..., ASGIMiddleware],
    app: RecordingApp,
    r: redis.Redis,
    keys: Keys,
) -> None:
    mw = middleware(hold_timeout=10)
    set_state(r, keys, "hold")
    counters = mw.gate.watcher.counters
    exchange = request(b"x")

    async def scenario() -> None:
        await until_held(mw)
        # long before the hold's 10 s deadline: only the disconnect can end it in time
        with anyio.fail_after(2):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(mw, http_scope("POST"), exchange.receive, exchange.send)
                await until(lambda: counters.held == 1)
                exchange.queue.put_nowait({"type": "http.disconnect"})

    run_async(scenario)
    assert exchange.sent == []
    assert app.calls == []
    assert counters.held == 0


def test_held_request_cancelled_by_its_server_is_counted_out_and_leaves_the_lot(
    run_async: Run,
    middleware: Callable[..., ASGIMiddleware],
    app: RecordingApp,
    r: redis.Redis,
    keys: Keys,
) -> None:
    mw = middleware(hold_timeout=10)
    set_state(r, keys, "hold")
    watcher = mw.gate.watcher
    counters = watcher.counters
    exchange = request(b"x")

    async def scenario() -> int:
        await until_held(mw)
        with anyio.fail_after(2):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(mw, http_scope("POST"), exchange.receive, exchange.send)
                await until(lambda: counters.held == 1)
                tasks.cancel_scope.cancel()  # as a server cancels a request's task
        return len(watcher.loop_lots.for_running_loop())

    assert run_async(scenario) == 0
    # Servers cancel a request's task when its client goes: no 503 is sent, none counted.
    assert (counters.held, counters.rejected_total, counters.released_total) == (0, 0, 0)
    assert counters.client_gone_total == 1
    assert exchange.sent == []
    assert app.calls == []


def test_thousand_held_requests_all_answered_on_release(
    run_async: Run,
    middleware: Callable[..., ASGIMiddleware],
    app: RecordingApp,
    r: redis.Redis,
    keys: Keys,
) -> None:
    mw = middleware(hold_timeout=20)
    set_state(r, keys, "hold")
    counters = mw.gate.watcher.counters
    exchanges = [request() for _ in range(1000)]

    async def scenario() -> None:
        await until_held(mw)
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tasks:
                for exchange in exchanges:
                    tasks.start_soon(mw, http_scope(), exchange.receive, exchange.send)
                await until(lambda: counters.held == 1000, 10)
                set_state(r, keys, "open")

    run_async(scenario)
    assert all(e.status == 200 for e in exchanges)
    assert len(app.calls) == 1000


class FailingServer:
    """A server's ``receive`` over a queue whose exception items it raises, with an event
    set just before it raises one (made in the run: ``failed()``)."""

    def __init__(self, *items: Message | Exception) -> None:
        self.queue: MessageQueue[Message | Exception] = MessageQueue(items)
        self.sent: list[Message] = []
        self._failed: anyio.Event | None = None

    def failed(self) -> anyio.Event:
        if self._failed is None:
            self._failed = anyio.Event()
        return self._failed

    async def receive(self) -> Message:
        item = await self.queue.get()
        if isinstance(item, Exception):
            self.failed().set()
            raise item
        return item

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def test_receive_failing_after_a_held_503_leaves_nothing_unretrieved(
    run_async: Run,
    middleware: Callable[..., ASGIMiddleware],
    app: RecordingApp,
    r: redis.Redis,
    keys: Keys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_state(r, keys, "hold")
    mw = middleware(hold_timeout=0.1)
    server = FailingServer({"type": "http.request", "body": b"", "more_body": False})

    async def scenario() -> str:
        failed = server.failed()
        await mw(http_scope("POST", "/w"), server.receive, server.send)
        assert server.sent[0]["status"] == 503
        server.queue.put_nowait(OSError("connection lost"))  # the server's read fails after
        with anyio.fail_after(TIMEOUT):
            await failed.wait()
        # asyncio runs the failed read task's done callbacks a loop step after the raise
        await anyio.wait_all_tasks_blocked()
        gc.collect()
        return "returned"

    assert run_async(scenario) == "returned"  # under trio: no TrioInternalError
    assert app.calls == []
    assert not [rec for rec in caplog.records if "never retrieved" in rec.getMessage()]


def test_receive_error_while_held_is_raised_to_the_app_after_release(
    run_async: Run, make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    first: Message = {"type": "http.request", "body": b"part-1", "more_body": True}
    error = ConnectionResetError("peer reset")
    server = FailingServer(first)
    got: list[Message | BaseException] = []  # what the app's receive() gave it
    escaped: list[BaseException] = []  # what the middleware's call raised

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        got.append(await receive())
        try:
            await receive()
        except ConnectionResetError as exc:
            got.append(exc)
            raise

    mw = ASGIMiddleware(inner, gate=make_gate(hold_timeout=10))
    counters = mw.gate.watcher.counters
    set_state(r, keys, "hold")

    async def served() -> None:
        try:
            await mw(http_scope("POST", "/w"), server.receive, server.send)
        except ConnectionResetError as exc:
            escaped.append(exc)

    async def scenario() -> None:
        failed = server.failed()
        await until_held(mw)
        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(served)
                await until(lambda: counters.held == 1)
                server.queue.put_nowait(error)  # the read-ahead's second read fails
                await failed.wait()
                await anyio.wait_all_tasks_blocked()  # the read-ahead has handled it
                assert counters.held == 1  # still held: an error is not a disconnect
                assert got == []
                set_state(r, keys, "open")

    run_async(scenario)
    assert len(got) == 2
    assert got[0] is first
    assert got[1] is error  # the very error of the read-ahead's read
    assert len(escaped) == 1
    assert escaped[0] is error
    assert server.sent == []
    assert (counters.held, counters.released_total, counters.inflight) == (0, 1, 0)
