"""What the gate records of each way a hold can end, read back from the Prometheus
registry of this (single) process: the ASGI middleware in-process on a real Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
import redis
from prometheus_client import REGISTRY

from gatekeeper import ASGIMiddleware, Gate
from gatekeeper.state.keys import Keys
from tests.support.asgi_support import Exchange, RecordingApp, call, http_scope, request, until
from tests.support.helpers import set_state

Run = Callable[..., Any]


@pytest.fixture(autouse=True)
def _single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


@pytest.fixture
def gated(
    make_gate: Callable[..., Gate],
) -> Callable[..., tuple[ASGIMiddleware, RecordingApp]]:
    def factory(**options: Any) -> tuple[ASGIMiddleware, RecordingApp]:
        app = RecordingApp()
        gate = make_gate(metrics="prometheus", metrics_path="/metrics", **options)
        return ASGIMiddleware(app, gate=gate), app

    return factory


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Figures:
    """The gate's figures now, and how far each moved since the last look."""

    NAMES = (
        ("gatekeeper_hold_duration_seconds_count", {}),
        ("gatekeeper_requests_held", {}),
        *(("gatekeeper_hold_outcomes_total", {"outcome": o}) for o in
          ("released", "timeout", "client_gone", "handed_off", "rejected", "capacity")),
        *(("gatekeeper_rejected_total", {"reason": r}) for r in
          ("hold-timeout", "capacity", "maintenance", "disconnected")),
        ("gatekeeper_keepalive_closes_total", {}),
    )  # fmt: skip

    def __init__(self) -> None:
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        return {self._key(n, lb): sample(n, **lb) for n, lb in self.NAMES}

    @staticmethod
    def _key(name: str, labels: dict[str, str]) -> str:
        return name + "".join(f"[{v}]" for v in labels.values())

    def moved(self) -> dict[str, float]:
        now = self._now()
        return {k: now[k] - self.start[k] for k in now if now[k] != self.start[k]}


async def held(mw: ASGIMiddleware, count: int) -> None:
    await until(lambda: mw.gate.watcher.counters.held == count)


def test_a_released_hold_is_one_observation_and_one_released_outcome(
    run_async: Run, gated: Callable[..., Any], r: redis.Redis, keys: Keys
) -> None:
    mw, _app = gated(hold_timeout=10)
    set_state(r, keys, "hold")
    figures = Figures()
    exchange = request()

    async def scenario() -> None:
        await until(lambda: mw.gate.watcher.wait_ready().mode.value == "hold")
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(mw, http_scope("GET"), exchange.receive, exchange.send)
            await held(mw, 1)
            assert sample("gatekeeper_requests_held") - figures.start[
                "gatekeeper_requests_held"] == 1  # fmt: skip
            set_state(r, keys, "open")

    run_async(scenario)
    assert exchange.status == 200
    assert figures.moved() == {
        "gatekeeper_hold_duration_seconds_count": 1,
        "gatekeeper_hold_outcomes_total[released]": 1,
    }


def test_a_hold_past_its_deadline_is_a_timeout_and_a_503(
    run_async: Run, gated: Callable[..., Any], r: redis.Redis, keys: Keys
) -> None:
    mw, app = gated(hold_timeout=0.2)
    set_state(r, keys, "hold")
    figures = Figures()

    async def scenario() -> Exchange:
        await until(lambda: mw.gate.watcher.wait_ready().mode.value == "hold")
        return await call(mw, http_scope("GET"))

    assert run_async(scenario).status == 503
    assert figures.moved() == {
        "gatekeeper_hold_duration_seconds_count": 1,
        "gatekeeper_hold_outcomes_total[timeout]": 1,
        "gatekeeper_rejected_total[hold-timeout]": 1,
    }
    assert app.calls == []


def test_a_request_past_max_held_is_refused_a_place_and_not_observed(
    run_async: Run, gated: Callable[..., Any], r: redis.Redis, keys: Keys
) -> None:
    mw, _ = gated(max_held=0)
    set_state(r, keys, "hold")
    figures = Figures()

    async def scenario() -> Exchange:
        await until(lambda: mw.gate.watcher.wait_ready().mode.value == "hold")
        return await call(mw, http_scope("GET"))

    assert run_async(scenario).status == 503
    assert figures.moved() == {
        "gatekeeper_hold_outcomes_total[capacity]": 1,
        "gatekeeper_rejected_total[capacity]": 1,
    }


def test_a_client_that_leaves_while_held_is_gone_and_no_503(
    run_async: Run, gated: Callable[..., Any], r: redis.Redis, keys: Keys
) -> None:
    mw, _app = gated(hold_timeout=10)
    set_state(r, keys, "hold")
    figures = Figures()
    exchange = Exchange([{"type": "http.disconnect"}])

    async def scenario() -> None:
        await until(lambda: mw.gate.watcher.wait_ready().mode.value == "hold")
        with anyio.fail_after(5):
            await mw(http_scope("GET"), exchange.receive, exchange.send)

    run_async(scenario)
    assert exchange.sent == []
    assert figures.moved() == {
        "gatekeeper_hold_duration_seconds_count": 1,
        "gatekeeper_hold_outcomes_total[client_gone]": 1,
    }


def test_held_requests_turned_away_by_an_overrun_are_rejected_with_maintenance(
    run_async: Run, gated: Callable[..., Any], r: redis.Redis, keys: Keys
) -> None:
    mw, _ = gated(hold_timeout=10)
    set_state(r, keys, "hold")
    figures = Figures()
    exchanges = [request() for _ in range(3)]

    async def scenario() -> None:
        await until(lambda: mw.gate.watcher.wait_ready().mode.value == "hold")
        async with anyio.create_task_group() as tasks:
            for exchange in exchanges:
                tasks.start_soon(mw, http_scope("GET"), exchange.receive, exchange.send)
            await held(mw, 3)
            set_state(r, keys, "maintenance")

    run_async(scenario)
    assert [e.status for e in exchanges] == [503] * 3
    assert figures.moved() == {
        "gatekeeper_hold_duration_seconds_count": 3,
        "gatekeeper_hold_outcomes_total[rejected]": 3,
        "gatekeeper_rejected_total[maintenance]": 3,
    }


def test_the_metrics_path_is_answered_in_maintenance_and_never_reaches_the_app(
    run_async: Run, gated: Callable[..., Any], r: redis.Redis, keys: Keys
) -> None:
    mw, app = gated()
    set_state(r, keys, "maintenance")

    async def scenario() -> tuple[Exchange, Exchange, Exchange]:
        await until(lambda: mw.gate.watcher.wait_ready().mode.value == "maintenance")
        scrape = await call(mw, http_scope("GET", "/metrics"))
        post = await call(mw, http_scope("POST", "/metrics"))
        page = await call(mw, http_scope("GET", "/metricsx"))
        return scrape, post, page

    scrape, post, page = run_async(scenario)
    assert scrape.status == 200
    assert b'gatekeeper_state{state="maintenance"} 1.0' in scrape.body
    assert scrape.header(b"cache-control") == b"no-store"
    assert (post.status, post.header(b"allow")) == (405, b"GET, HEAD")
    assert page.status == 503  # only the path itself is exempt
    assert app.calls == []


def test_a_response_closed_for_a_reload_is_counted(
    run_async: Run, gated: Callable[..., Any], r: redis.Redis, keys: Keys
) -> None:
    mw, _app = gated()
    set_state(r, keys, "open")
    r.set(keys.keepalive, "off")
    r.publish(keys.events, "x")
    figures = Figures()

    async def scenario() -> Exchange:
        await until(lambda: mw.gate.watcher.wait_ready().closing)
        return await call(mw, http_scope("GET"))

    exchange = run_async(scenario)
    assert exchange.header(b"connection") == b"close"
    assert figures.moved() == {"gatekeeper_keepalive_closes_total": 1}
