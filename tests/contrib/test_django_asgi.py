"""GatekeeperMiddleware in Django's async mode (AsyncClient): holding never blocks the loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, AsyncRequestFactory

from gatekeeper.contrib.django import GatekeeperMiddleware
from gatekeeper.core.modes import Mode
from gatekeeper.state.keys import Keys
from tests.contrib.django_support import current_watcher, gate_settings


@pytest.fixture
def gated(redis_url: str, prefix: str) -> Iterator[None]:
    with gate_settings(redis_url, prefix):
        yield


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        await asyncio.sleep(0.002)


def set_state(r: redis.Redis, keys: Keys, state: str | None) -> None:
    if state is None:
        r.delete(keys.state)
    else:
        r.set(keys.state, state)
    r.publish(keys.events, "x")


async def test_async_get_response_makes_the_middleware_a_coroutine(gated: None) -> None:
    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    def sync_view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    assert iscoroutinefunction(GatekeeperMiddleware(view))
    assert not iscoroutinefunction(GatekeeperMiddleware(sync_view))


async def test_two_held_requests_leave_health_checks_answered(
    gated: None, r: redis.Redis, keys: Keys
) -> None:
    assert (await AsyncClient().get("/async/")).status_code == 200
    set_state(r, keys, "hold")
    watcher = current_watcher()
    await until(lambda: watcher.snapshot and watcher.snapshot.mode is Mode.HOLD)
    held = [
        asyncio.ensure_future(AsyncClient().get("/async/")),
        asyncio.ensure_future(AsyncClient().post("/probe/")),
    ]
    await until(lambda: watcher.counters.held == 2)
    started = time.monotonic()
    health = await AsyncClient().get("/healthz")
    assert health.status_code == 200
    assert time.monotonic() - started < 1.0
    assert not any(task.done() for task in held)
    set_state(r, keys, None)
    read, write = await asyncio.wait_for(asyncio.gather(*held), timeout=5)
    assert (read.status_code, write.status_code) == (200, 200)
    probe = write.json()
    # Released together, the GET may or may not still be in flight when the POST's view
    # counts: the POST counts itself, as the one write, either way.
    assert (probe["writes"], probe["method"]) == (1, "POST")
    assert probe["inflight"] in (1, 2)
    assert (watcher.counters.released_total, watcher.counters.inflight) == (2, 0)


async def test_async_maintenance_uses_the_template(gated: None, r: redis.Redis, keys: Keys) -> None:
    r.hset(keys.info, "message", "<i>soon</i>")
    set_state(r, keys, "maintenance")
    watcher = current_watcher()
    await watcher.wait_ready_async()
    await until(lambda: watcher.snapshot and watcher.snapshot.mode is Mode.MAINTENANCE)
    response = await AsyncClient().get("/async/")
    assert response.status_code == 503
    assert b"&lt;i&gt;soon&lt;/i&gt;" in response.content
    assert response["X-Gatekeeper"] == "maintenance"


async def test_async_exception_and_cancellation_leave_the_count(gated: None) -> None:
    gate_open = asyncio.Event()

    async def slow(request: HttpRequest) -> HttpResponse:
        await gate_open.wait()
        raise RuntimeError("never reached")

    middleware = GatekeeperMiddleware(slow)
    call = middleware(AsyncRequestFactory().post("/probe/"))
    assert asyncio.iscoroutine(call)
    task = asyncio.ensure_future(call)
    counters = current_watcher().counters
    await until(lambda: counters.inflight == 1)
    task.cancel()  # what Django's ASGI handler does when the client disconnects
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (counters.inflight, counters.inflight_writes) == (0, 0)


async def test_async_handoff_in_old_release_answers_307_with_connection_close(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys
) -> None:
    with gate_settings(redis_url, prefix, GATEKEEPER_RELEASE="v1", GATEKEEPER_HANDOFF_DELAY=0):
        client = AsyncClient()
        await client.get("/probe/")
        r.set(keys.handoff, "v2", ex=30)
        r.publish(keys.events, "handoff")
        watcher = current_watcher()
        await until(lambda: watcher.snapshot is not None and watcher.snapshot.handoff)
        response = await client.get("/probe/")
        assert (response.status_code, response["Location"]) == (307, "/probe/")
        assert response["Connection"] == "close"
        r.delete(keys.handoff)
        r.set(keys.keepalive, "off", ex=30)
        r.publish(keys.events, "keepalive")
        await until(lambda: watcher.snapshot is not None and not watcher.snapshot.handoff)
        passed = await client.get("/probe/")
        assert (passed.status_code, passed["Connection"]) == (200, "close")
