"""The same figures as OpenTelemetry metrics, read through the SDK's in-memory reader,
and the span event of a held request, read through the in-memory span exporter.

The SDK's providers are set once for this process (OpenTelemetry allows one each); the
gate's meter is a proxy until then, so the order of tests does not matter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
import redis
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gatekeeper import ASGIMiddleware, Gate
from gatekeeper.state.keys import Keys
from tests.support.asgi_support import Exchange, RecordingApp, call, http_scope, request, until
from tests.support.helpers import set_state

Run = Callable[..., Any]
READER = InMemoryMetricReader()
SPANS = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _providers() -> None:
    metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(SPANS))
    trace.set_tracer_provider(tracer_provider)


def points(name: str) -> list[Any]:
    data = READER.get_metrics_data()
    found: list[Any] = []
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            if scope.scope.name != "gatekeeper":
                continue
            for metric in scope.metrics:
                if metric.name == name:
                    found.extend(metric.data.data_points)
    return found


def total(name: str, **attributes: str) -> float:
    return sum(
        p.count if hasattr(p, "count") and not hasattr(p, "value") else p.value
        for p in points(name)
        if all(p.attributes.get(k) == v for k, v in attributes.items())
    )


def test_held_requests_show_as_otel_metrics_and_a_span_event(
    run_async: Run, make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    mw = ASGIMiddleware(RecordingApp(), gate=make_gate(metrics="otel", hold_timeout=10))
    set_state(r, keys, "hold")
    before_held = total("gatekeeper.hold.duration")
    before_released = total("gatekeeper.hold.outcomes", **{"gatekeeper.outcome": "released"})
    exchanges = [request() for _ in range(3)]
    tracer = trace.get_tracer("tests")
    SPANS.clear()

    async def one(exchange: Exchange) -> None:
        with tracer.start_as_current_span("GET /"):
            await mw(http_scope("GET"), exchange.receive, exchange.send)

    async def scenario() -> None:
        watcher = mw.gate.watcher
        await until(lambda: watcher.wait_ready().mode.value == "hold")
        async with anyio.create_task_group() as tasks:
            for exchange in exchanges:
                tasks.start_soon(one, exchange)
            await until(lambda: watcher.counters.held == 3)
            assert total("gatekeeper.requests.held") >= 3
            state = {p.attributes["gatekeeper.state"]: p.value for p in points("gatekeeper.state")}
            assert (state["hold"], state["open"]) == (1, 0)
            set_state(r, keys, "open")

    run_async(scenario)
    assert [e.status for e in exchanges] == [200] * 3
    assert total("gatekeeper.hold.duration") - before_held == 3
    released = total("gatekeeper.hold.outcomes", **{"gatekeeper.outcome": "released"})
    assert released - before_released == 3
    assert total("gatekeeper.requests.held") == 0
    assert total("gatekeeper.redis.connected") == 1
    events = [e for span in SPANS.get_finished_spans() for e in span.events]
    assert [e.name for e in events] == ["gatekeeper.held"] * 3
    assert all(e.attributes["gatekeeper.outcome"] == "released" for e in events)
    assert all(0 < e.attributes["gatekeeper.hold.duration_s"] < 10 for e in events)


def test_a_503_shows_as_an_otel_rejection_by_reason(
    run_async: Run, make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys
) -> None:
    mw = ASGIMiddleware(RecordingApp(), gate=make_gate(metrics="prometheus,otel"))
    set_state(r, keys, "maintenance")
    before = total("gatekeeper.requests.rejected", **{"gatekeeper.reason": "maintenance"})

    async def scenario() -> Exchange:
        await until(lambda: mw.gate.watcher.wait_ready().mode.value == "maintenance")
        return await call(mw, http_scope("GET"))

    assert run_async(scenario).status == 503
    after = total("gatekeeper.requests.rejected", **{"gatekeeper.reason": "maintenance"})
    assert after - before == 1
