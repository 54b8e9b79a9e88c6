"""The WSGI middleware in-process, against a real redis-server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from werkzeug.test import Client

from gatekeeper import Gate, WSGIMiddleware
from gatekeeper.state.keys import Keys
from tests.support.helpers import set_state, wait_for
from tests.support.wsgi_support import CountingApp

SECRET = "staff-secret-0123456789"


@pytest.fixture
def app() -> CountingApp:
    return CountingApp()


@pytest.fixture
def wrap(make_gate: Callable[..., Gate], app: CountingApp) -> Callable[..., Client]:
    def factory(**options: Any) -> Client:
        gate = make_gate(**options)
        return Client(WSGIMiddleware(app, gate=gate))

    return factory


def test_open_passes_to_app(wrap: Callable[..., Client], app: CountingApp) -> None:
    response = wrap().get("/")
    assert response.status_code == 200
    assert response.data == b"app says hi"
    assert app.calls == ["GET /"]


def test_maintenance_answers_503_without_reaching_app(
    wrap: Callable[..., Client], app: CountingApp, r: redis.Redis, keys: Keys
) -> None:
    set_state(r, keys, "maintenance", message="<b>Upgrading</b>", retry_after="7")
    client = wrap()
    html = client.get("/", headers={"Accept": "text/html"})
    assert html.status_code == 503
    assert html.headers["Retry-After"] == "7"
    assert html.headers["Cache-Control"] == "no-store"
    assert b'http-equiv="refresh" content="7"' in html.data
    assert b"&lt;b&gt;Upgrading&lt;/b&gt;" in html.data
    api = client.get("/", headers={"Accept": "application/json"})
    assert api.status_code == 503
    assert api.json == {
        "error": "service_unavailable",
        "reason": "maintenance",
        "message": "<b>Upgrading</b>",
        "retry_after": 7,
    }
    head = client.head("/")
    assert head.status_code == 503
    assert head.data == b""
    assert app.calls == []


def test_health_path_passes_during_maintenance(
    wrap: Callable[..., Client], app: CountingApp, r: redis.Redis, keys: Keys
) -> None:
    set_state(r, keys, "maintenance")
    assert wrap().get("/healthz").status_code == 200
    assert app.calls == ["GET /healthz"]


def test_held_request_released_by_del_and_publish(
    wrap: Callable[..., Client], app: CountingApp, r: redis.Redis, keys: Keys
) -> None:
    client = wrap(hold_timeout=10)
    set_state(r, keys, "hold")
    gate_watcher = client.application.gate.watcher  # type: ignore[attr-defined]
    wait_for(lambda: gate_watcher.wait_ready().mode.value == "hold", 2.0)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client.post, "/orders", data={"n": str(i)}) for i in range(4)]
        wait_for(lambda: gate_watcher.counters.held == 4, 2.0)
        assert app.calls == []
        released_at = time.perf_counter()
        set_state(r, keys, None)
        responses = [f.result(timeout=5) for f in futures]
    elapsed = time.perf_counter() - released_at
    assert [resp.status_code for resp in responses] == [200] * 4
    assert sorted(app.calls) == ["POST /orders"] * 4
    assert elapsed < 1.0
    assert gate_watcher.counters.held == 0
    assert gate_watcher.counters.released_total == 4


def test_held_request_gets_503_at_its_deadline(
    wrap: Callable[..., Client], app: CountingApp, r: redis.Redis, keys: Keys
) -> None:
    set_state(r, keys, "hold")
    client = wrap(hold_timeout=0.4)
    started = time.monotonic()
    response = client.get("/", headers={"Accept": "application/json"})
    waited = time.monotonic() - started
    assert response.status_code == 503
    assert response.json["reason"] == "hold-timeout"
    assert 0.35 <= waited < 2.0
    assert app.calls == []


def test_hold_until_in_info_shortens_the_hold(
    wrap: Callable[..., Client], app: CountingApp, r: redis.Redis, keys: Keys
) -> None:
    set_state(r, keys, "hold", hold_until=str(time.time() + 0.3))
    started = time.monotonic()
    response = wrap(hold_timeout=10).get("/")
    assert response.status_code == 503
    assert time.monotonic() - started < 2.0


def test_hold_turning_into_maintenance_rejects_held_requests(
    wrap: Callable[..., Client], app: CountingApp, r: redis.Redis, keys: Keys
) -> None:
    client = wrap(hold_timeout=10)
    set_state(r, keys, "hold")
    watcher = client.application.gate.watcher  # type: ignore[attr-defined]
    wait_for(lambda: watcher.wait_ready().mode.value == "hold", 2.0)
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(client.get, "/")
        wait_for(lambda: watcher.counters.held == 1, 2.0)
        set_state(r, keys, "maintenance", retry_after="30")
        response = future.result(timeout=3)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert app.calls == []


def test_max_held_rejects_excess_at_once(
    wrap: Callable[..., Client], app: CountingApp, r: redis.Redis, keys: Keys
) -> None:
    client = wrap(hold_timeout=10, max_held=2)
    set_state(r, keys, "hold")
    watcher = client.application.gate.watcher  # type: ignore[attr-defined]
    wait_for(lambda: watcher.wait_ready().mode.value == "hold", 2.0)
    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(client.get, "/") for _ in range(2)]
        wait_for(lambda: watcher.counters.held == 2, 2.0)
        started = time.monotonic()
        excess = client.get("/", headers={"Accept": "application/json"})
        assert time.monotonic() - started < 0.5
        assert excess.status_code == 503
        assert excess.json["reason"] == "capacity"
        set_state(r, keys, None)
        assert [f.result(timeout=5).status_code for f in held] == [200, 200]


def test_readonly_passes_reads_and_holds_writes(
    wrap: Callable[..., Client], app: CountingApp, r: redis.Redis, keys: Keys
) -> None:
    client = wrap(hold_timeout=10)
    set_state(r, keys, "readonly")
    watcher = client.application.gate.watcher  # type: ignore[attr-defined]
    wait_for(lambda: watcher.wait_ready().mode.value == "readonly", 2.0)
    assert client.get("/items").status_code == 200
    with ThreadPoolExecutor(1) as pool:
        write = pool.submit(client.post, "/items")
        wait_for(lambda: watcher.counters.held == 1, 2.0)
        assert app.calls == ["GET /items"]
        set_state(r, keys, "open")
        assert write.result(timeout=5).status_code == 200
    assert app.calls == ["GET /items", "POST /items"]


def test_bypass_path_grants_cookie_that_passes_maintenance(
    wrap: Callable[..., Client], app: CountingApp, r: redis.Redis, keys: Keys
) -> None:
    set_state(r, keys, "maintenance")
    client = wrap(bypass_secret=SECRET)
    assert client.get("/").status_code == 503
    visit = client.get(f"/__gatekeeper__/bypass/{SECRET}")
    assert visit.status_code == 303
    assert visit.headers["Location"] == "/"
    assert SECRET not in visit.headers["Set-Cookie"]
    assert client.get("/").status_code == 200  # the client kept the cookie
    assert (
        wrap(bypass_secret=SECRET).get("/", headers={"X-Gatekeeper-Bypass": SECRET}).status_code
        == 200
    )
    wrong = wrap(bypass_secret=SECRET).get(f"/__gatekeeper__/bypass/{SECRET[:-1]}X")
    assert wrong.status_code == 503


def test_exempt_network_uses_peer_not_spoofed_header(
    wrap: Callable[..., Client], app: CountingApp, r: redis.Redis, keys: Keys
) -> None:
    set_state(r, keys, "maintenance")
    client = wrap(exempt_networks="10.9.0.0/16")
    spoofed = client.get(
        "/", environ_base={"REMOTE_ADDR": "203.0.113.7"}, headers={"X-Forwarded-For": "10.9.0.1"}
    )
    assert spoofed.status_code == 503
    assert client.get("/", environ_base={"REMOTE_ADDR": "10.9.3.4"}).status_code == 200


def test_streamed_response_counts_in_flight_until_closed(
    make_gate: Callable[..., Gate],
) -> None:
    release = threading.Event()

    def streaming_app(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body() -> Iterator[bytes]:
            yield b"first "
            release.wait(5)
            yield b"last"

        return body()

    gate = make_gate()
    middleware = WSGIMiddleware(streaming_app, gate=gate)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/stream", "wsgi.url_scheme": "http"}
    result = middleware(environ, lambda status, headers: None)
    counters = gate.watcher.counters
    assert (counters.inflight, counters.inflight_writes) == (1, 1)
    iterator = iter(result)
    assert next(iterator) == b"first "
    release.set()
    assert b"".join(iterator) == b"last"
    assert counters.inflight == 1  # not closed yet
    result.close()  # type: ignore[attr-defined]
    result.close()  # type: ignore[attr-defined]
    assert (counters.inflight, counters.inflight_writes) == (0, 0)


def test_app_exception_leaves_in_flight_count_at_zero(make_gate: Callable[..., Gate]) -> None:
    def broken(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raise RuntimeError("boom")

    gate = make_gate()
    with pytest.raises(RuntimeError):
        WSGIMiddleware(broken, gate=gate)({"REQUEST_METHOD": "GET"}, lambda *a: None)
    assert gate.watcher.counters.inflight == 0


def test_gate_and_options_together_is_an_error(make_gate: Callable[..., Gate]) -> None:
    with pytest.raises(ValueError, match="either gate= or options"):
        WSGIMiddleware(lambda e, s: [], gate=make_gate(), hold_timeout=3)
