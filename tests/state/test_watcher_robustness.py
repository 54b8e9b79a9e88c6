"""The watcher under a slow start, several event loops, and a bug of its own.

Each situation is forced with an event or a hook, never waited out: the watcher's first
session blocks on an event (as a slow DNS lookup blocks it), and the fan-out to event
loops is interrupted by a trace hook at the exact point another loop registers.
"""

from __future__ import annotations

import asyncio
import linecache
import logging
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from gatekeeper import ASGIMiddleware, Gate, build_options
from gatekeeper.core.modes import Mode
from gatekeeper.options import GateOptions
from gatekeeper.state._parking import LoopLot
from gatekeeper.state.snapshot import Snapshot
from gatekeeper.state.watcher import StateWatcher
from tests.support.helpers import wait_for


class SlowStart(StateWatcher):
    """A watcher whose first connection takes until ``go`` is set."""

    def __init__(self, options: GateOptions) -> None:
        self.go = threading.Event()
        super().__init__(options)

    def _session(self) -> None:
        self.go.wait(10)
        super()._session()


@pytest.fixture
def slow(redis_url: str, prefix: str) -> Iterator[SlowStart]:
    options = build_options({"redis_url": redis_url, "prefix": prefix, "connect_timeout": 0.05})
    watcher = SlowStart(options)
    yield watcher
    watcher.go.set()
    watcher.close()


async def test_startup_timeout_in_one_request_leaves_later_waits_working(
    slow: SlowStart,
) -> None:
    first = await slow.wait_ready_async()  # gives up after the start-up timeout
    assert first.source == "startup"
    slow.go.set()
    later = await asyncio.wait_for(slow.wait_ready_async(), 5)
    assert later.source == "redis"
    assert slow.wait_ready().source == "redis"
    assert not slow.ready.cancelled()


async def test_startup_timeout_then_requests_through_middleware_are_answered(
    slow: SlowStart,
) -> None:
    gate = Gate(slow.options)
    gate.watcher = slow
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = ASGIMiddleware(app, gate=gate)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    await asyncio.gather(*(middleware(scope, receive, send) for _ in range(3)))  # all time out
    slow.go.set()
    await asyncio.wait_for(slow.wait_ready_async(), 5)
    await middleware(scope, receive, send)
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [200] * 4


def test_loop_registering_during_fan_out_neither_breaks_it_nor_is_lost(
    redis_url: str, prefix: str
) -> None:
    options = build_options({"redis_url": redis_url, "prefix": prefix})
    watcher = StateWatcher(options)
    woken: list[int] = []
    parked = threading.Barrier(4)
    finished: list[threading.Thread] = []

    def held_loop(n: int) -> None:
        async def hold() -> None:
            lot = watcher.loop_lots.for_running_loop()
            held = asyncio.ensure_future(lot.spot().park(5))
            await asyncio.sleep(0)  # one loop step: the spot is parked
            parked.wait(5)
            await asyncio.wait_for(held, 5)
            woken.append(n)

        asyncio.run(hold())

    threads = [threading.Thread(target=held_loop, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    parked.wait(5)
    newcomer: list[LoopLot] = []

    def register_new_loop() -> None:
        async def register() -> None:
            newcomer.append(watcher.loop_lots.for_running_loop())

        asyncio.run(register())

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        # The first step of the fan-out, whichever way it iterates: another event loop
        # registers right then, and must not break it.
        code = frame.f_code
        mid_iteration = (
            event == "line"
            and code.co_filename.endswith("weakref.py")
            and "yield" in linecache.getline(code.co_filename, frame.f_lineno)
        )
        # one loop's own unpark, called while the watcher iterates over every loop's lot
        one_lot = isinstance(frame.f_locals.get("self"), LoopLot)
        inside = mid_iteration or (one_lot and code.co_name == "unpark_all_threadsafe")
        if inside and not finished:
            other = threading.Thread(target=register_new_loop)
            finished.append(other)
            other.start()
            other.join(5)
        return tracer

    errors: list[BaseException] = []

    def publish() -> None:
        sys.settrace(tracer)
        try:
            watcher._publish(Snapshot(Mode.OPEN, source="redis"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            sys.settrace(None)

    publisher = threading.Thread(target=publish)
    publisher.start()
    publisher.join(10)
    for thread in threads:
        thread.join(10)
    assert finished, "the fan-out never ran"
    assert errors == []
    assert sorted(woken) == [0, 1, 2]
    assert len(newcomer) == 1
    assert newcomer[0] in watcher.loop_lots  # registered, not lost


class BuggyRefresh(StateWatcher):
    """A watcher whose first read hits a bug of gatekeeper's own (not a Redis error)."""

    def __init__(self, options: GateOptions) -> None:
        self.failures = 0
        super().__init__(options)

    def _refresh(self, client: Any, *, heartbeat: bool) -> None:
        if self.failures < 2:
            self.failures += 1
            raise KeyError("generation")
        super()._refresh(client, heartbeat=heartbeat)


def test_own_bug_is_logged_with_traceback_not_as_redis_unreachable(
    redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    options = build_options({"redis_url": redis_url, "prefix": prefix})
    watcher = BuggyRefresh(options)
    caplog.set_level(logging.WARNING, logger="gatekeeper")
    try:
        watcher.start()
        wait_for(lambda: watcher.snapshot and watcher.snapshot.source == "redis", 5.0)
    finally:
        watcher.close()
    records = [r for r in caplog.records if r.name == "gatekeeper"]
    assert not any("unreachable" in r.getMessage() for r in records), records
    bugs = [r for r in records if "KeyError" in r.getMessage()]
    assert len(bugs) == 1  # the second identical failure is not logged again
    assert bugs[0].levelno == logging.ERROR
    message = bugs[0].getMessage()
    assert "please report" in message
    assert "Traceback (most recent call last)" in message
    assert "in _refresh" in message  # where it failed
