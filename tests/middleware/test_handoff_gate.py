"""The handoff in the gate, in-process: ASGI and WSGI middleware on the real redis-server.

A gate of release ``v1`` under ``<prefix>:handoff`` = ``v2`` answers what it held, and
what arrives, with a 307 to the same target (or the API 503, or close 1012), and the app
of the old release never runs it. The ASGI harness is tests/support/asgi_support.py.

Two tests force the interleaving the runner's "handoff" message exists for: the gate
applies a published mode name as a hint before it re-reads the keys. A ``MULTI`` writes
the keys, publishes and then runs ``CLIENT PAUSE ... ALL``, so the gate gets the message
at once but its re-read waits until the pause ends: whatever the hint alone decides is
what held requests get meanwhile. Published as "handoff", nothing (the requests wait for
the re-read); published as "open", they run on the old release (the hazard, documented).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import redis

from gatekeeper import ASGIMiddleware, Gate, WSGIMiddleware
from gatekeeper.core.handoff import HANDOFF_NOTE
from gatekeeper.core.modes import Mode
from gatekeeper.middleware.wsgi import CLOSE_FLAG
from gatekeeper.runner.lease import HoldLease
from gatekeeper.state.keys import Keys
from gatekeeper.state.snapshot import Snapshot
from gatekeeper.state.watcher import StateWatcher
from tests.support.asgi_support import Exchange, Message, RecordingApp, call, http_scope, until
from tests.support.helpers import set_state, wait_for
from tests.support.wsgi_support import CountingApp

OLD, NEW = "v1", "v2"
PAUSE_MS = 1000
"""How long ``CLIENT PAUSE`` keeps the gate's re-read from Redis in the forced tests."""
WS_SCOPE: dict[str, Any] = {
    "type": "websocket",
    "path": "/ws",
    "headers": [],
    "client": ("127.0.0.1", 1),
}


# -- Redis writes, as the runner and an operator make them ----------------------------


def hand_off(r: redis.Redis, keys: Keys, release: str = NEW) -> None:
    """The runner's final write by hand: state opened and handoff set in one step,
    published as ``handoff`` (not a mode name)."""
    pipe = r.pipeline(transaction=True)
    pipe.set(keys.state, "open")
    pipe.delete(keys.info)
    pipe.set(keys.handoff, release, px=20_000)
    pipe.publish(keys.events, "handoff")
    pipe.execute()


def end_handoff(r: redis.Redis, keys: Keys) -> None:
    """What the runner's ``HandoffWait.clear`` does: delete the key and tell every gate."""
    pipe = r.pipeline(transaction=True)
    pipe.delete(keys.handoff)
    pipe.publish(keys.events, "handoff")
    pipe.execute()


def hand_off_then_pause(r: redis.Redis, keys: Keys, message: str) -> None:
    """Open with the handoff readable, publish ``message``, then pause every client for
    :data:`PAUSE_MS`, all in one ``MULTI``: the gate receives the message but cannot
    re-read the keys until the pause is over. No Redis call may be made meanwhile."""
    pipe = r.pipeline(transaction=True)
    pipe.set(keys.state, "open")
    pipe.delete(keys.info)
    pipe.set(keys.handoff, NEW, px=20_000)
    pipe.publish(keys.events, message)
    pipe.client_pause(PAUSE_MS)  # every client, ALL commands
    pipe.execute()


# -- observing the gate ----------------------------------------------------------------


def seen(watcher: StateWatcher, check: Callable[[Snapshot], bool]) -> bool:
    """Whether the watcher's snapshot passes ``check`` (starting the watcher if need be)."""
    watcher.start()
    snapshot = watcher.snapshot
    return snapshot is not None and check(snapshot)


def in_hold(snapshot: Snapshot) -> bool:
    return snapshot.mode is Mode.HOLD


def handed_off(snapshot: Snapshot) -> bool:
    return snapshot.handoff


def response_headers(exchange: Exchange) -> list[tuple[bytes, bytes]]:
    start = next(m for m in exchange.sent if m["type"] == "http.response.start")
    return list(start["headers"])


def values(exchange: Exchange, name: bytes) -> list[bytes]:
    return [value for key, value in response_headers(exchange) if key == name]


def assert_redirect(exchange: Exchange, location: bytes) -> None:
    """The handoff's 307: to ``location``, retried at once, never cached, connection ended."""
    assert exchange.status == 307
    assert values(exchange, b"location") == [location]
    assert values(exchange, b"retry-after") == [b"0"]
    assert values(exchange, b"cache-control") == [b"no-store"]
    assert values(exchange, b"x-gatekeeper") == [b"handoff"]
    assert values(exchange, b"connection") == [b"close"]
    assert exchange.body == HANDOFF_NOTE


def chunked(*parts: bytes) -> list[Message]:
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


@pytest.fixture
def app() -> RecordingApp:
    return RecordingApp()


@pytest.fixture
def asgi(make_gate: Callable[..., Gate], app: RecordingApp) -> Callable[..., ASGIMiddleware]:
    def factory(**options: Any) -> ASGIMiddleware:
        options.setdefault("release", OLD)
        options.setdefault("hold_timeout", 10)
        return ASGIMiddleware(app, gate=make_gate(**options))

    return factory


async def held_gate(
    asgi: Callable[..., ASGIMiddleware], r: redis.Redis, keys: Keys, **options: Any
) -> ASGIMiddleware:
    """A middleware whose gate has seen ``hold``."""
    mw = asgi(**options)
    set_state(r, keys, "hold")
    await until(lambda: seen(mw.gate.watcher, in_hold))
    return mw


async def handed_off_gate(
    asgi: Callable[..., ASGIMiddleware], r: redis.Redis, keys: Keys, **options: Any
) -> ASGIMiddleware:
    """A middleware of the old release whose gate has seen the handoff (state open)."""
    mw = asgi(**options)
    hand_off(r, keys)
    await until(lambda: seen(mw.gate.watcher, handed_off))
    return mw


# -- ASGI: held when the handoff comes -------------------------------------------------


async def test_post_held_in_old_release_when_handoff_comes_gets_307_to_its_target(
    asgi: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = await held_gate(asgi, r, keys)
    counters = mw.gate.watcher.counters
    scope = {
        **http_scope("POST", "/files/a/b"),
        "raw_path": b"/files/a%2Fb",
        "query_string": b"q=1&next=%2Fhome",
    }
    # Only the first part of the body has come when the handoff does.
    exchange = Exchange([{"type": "http.request", "body": b"part-1;", "more_body": True}])
    task = asyncio.create_task(mw(scope, exchange.receive, exchange.send))
    await until(lambda: counters.held == 1)
    hand_off(r, keys)
    # The hold has ended as a handoff: the gate now reads the rest of the body before
    # it answers, and answers nothing while that rest has not come.
    await until(lambda: counters.handed_off_total == 1)
    assert counters.held == 0
    assert exchange.sent == []
    assert not task.done()
    exchange.queue.put_nowait({"type": "http.request", "body": b"part-2", "more_body": False})
    await asyncio.wait_for(task, 3)
    assert_redirect(exchange, b"/files/a%2Fb?q=1&next=%2Fhome")
    assert exchange.queue.empty()  # the whole body was read from receive
    assert app.calls == []
    assert app.scopes == []
    assert (counters.released_total, counters.rejected_total, counters.inflight) == (0, 0, 0)


async def test_post_held_in_new_release_when_handoff_comes_is_released_to_the_app(
    asgi: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = await held_gate(asgi, r, keys, release=NEW)
    counters = mw.gate.watcher.counters
    task = asyncio.create_task(call(mw, http_scope("POST", "/notes"), b"note"))
    await until(lambda: counters.held == 1)
    hand_off(r, keys)
    exchange = await asyncio.wait_for(task, 3)
    assert (exchange.status, exchange.body) == (200, b"ok:note")
    assert app.calls == [("POST", "/notes", b"note")]
    assert values(exchange, b"connection") == []  # the new release keeps connections alive
    assert (counters.released_total, counters.handed_off_total) == (1, 0)
    assert seen(mw.gate.watcher, lambda snapshot: not snapshot.handoff)


async def test_hundred_held_when_runner_opens_with_handoff_all_get_307_and_none_reach_app(
    asgi: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = asgi()
    watcher = mw.gate.watcher
    lease = HoldLease(r, keys, token="run-handoff", ttl=10, on_event=lambda kind, detail: None)
    lease.acquire()
    try:
        assert lease.write(Mode.HOLD, {"message": "migrating"}, ttl=10)
        await until(lambda: seen(watcher, in_hold))
        tasks = [
            asyncio.create_task(call(mw, http_scope("POST", f"/w{i}"), b"b%d" % i))
            for i in range(100)
        ]
        await until(lambda: watcher.counters.held == 100)
        events = r.pubsub(ignore_subscribe_messages=False)  # type: ignore[no-untyped-call]
        events.subscribe(keys.events)
        wait_for(lambda: events.get_message(timeout=0.1), 3, what="subscribed")
        assert lease.write(Mode.OPEN, {}, ttl=None, handoff=(NEW, 5))
        exchanges = await asyncio.wait_for(asyncio.gather(*tasks), 5)
        # What the other tests show matters: the message names no mode.
        message = wait_for(lambda: events.get_message(timeout=0.1), 3, what="the message")
        assert message["data"] == "handoff"
        events.close()
    finally:
        lease.release()
    for i, exchange in enumerate(exchanges):
        assert_redirect(exchange, b"/w%d" % i)
    assert app.calls == []
    assert watcher.counters.handed_off_total == 100
    assert watcher.counters.held == 0


async def test_request_held_before_handoff_gets_307_handoff_delay_after_gate_learned_of_it(
    asgi: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    """ASGI paces from the later of arrival and the moment the process learned of the
    handoff (commit 8b1e613): even a request older than ``handoff_delay`` waits it out.

    The task's brief said instead that requests held before the handoff began get the
    redirect at once (true at 8489480); 8b1e613 changed that rule on purpose.
    """
    delay = 0.3
    mw = await held_gate(asgi, r, keys, handoff_delay=delay)
    counters = mw.gate.watcher.counters
    task = asyncio.create_task(call(mw, http_scope("POST", "/early"), b"x"))
    await until(lambda: counters.held == 1)
    # Not a synchronisation: the request must be older than handoff_delay when the
    # handoff comes, or pacing from arrival and from learning could not be told apart.
    await asyncio.sleep(delay + 0.05)
    handed_at = time.monotonic()
    hand_off(r, keys)
    exchange = await asyncio.wait_for(task, 3)
    assert time.monotonic() - handed_at >= delay * 0.95
    assert_redirect(exchange, b"/early")
    assert app.calls == []
    assert (counters.held, counters.handed_off_total) == (0, 1)


async def test_handoff_message_while_reread_is_paused_keeps_held_requests_from_app(
    asgi: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    # connect_timeout bounds the watcher's reads: it must outlast the pause.
    mw = await held_gate(asgi, r, keys, connect_timeout=3)
    watcher = mw.gate.watcher
    tasks = [asyncio.create_task(call(mw, http_scope("POST", f"/w{i}"), b"x")) for i in range(100)]
    await until(lambda: watcher.counters.held == 100)
    started = time.monotonic()
    hand_off_then_pause(r, keys, "handoff")
    exchanges = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    # Nothing was decided until the re-read, after the pause: then with the handoff.
    assert time.monotonic() - started >= PAUSE_MS / 1000 * 0.9
    for i, exchange in enumerate(exchanges):
        assert_redirect(exchange, b"/w%d" % i)
    assert app.calls == []


async def test_bare_open_message_while_reread_is_paused_releases_held_requests_to_old_code(
    asgi: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    """Documents the hazard the runner's "handoff" message avoids; not a wanted outcome.

    The handoff key is set in the same MULTI as the state, before the message, so every
    read after it sees the handoff. Yet published as "open", the message alone is taken
    for the new state while the re-read waits: the held requests of the old release run.
    """
    mw = await held_gate(asgi, r, keys, connect_timeout=3)
    watcher = mw.gate.watcher
    tasks = [asyncio.create_task(call(mw, http_scope("POST", f"/w{i}"), b"x")) for i in range(100)]
    await until(lambda: watcher.counters.held == 100)
    started = time.monotonic()
    hand_off_then_pause(r, keys, "open")
    exchanges = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert time.monotonic() - started < PAUSE_MS / 1000  # while no read could be made
    assert [e.status for e in exchanges] == [200] * 100
    assert len(app.calls) == 100  # run by release v1, though v2 had taken over
    await until(lambda: seen(watcher, handed_off), timeout=5)  # the re-read, at last


# -- ASGI: arriving under a handoff ----------------------------------------------------


async def test_request_arriving_under_handoff_is_paced_then_passes_when_handoff_ends(
    asgi: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = await handed_off_gate(asgi, r, keys, handoff_delay=5)
    counters = mw.gate.watcher.counters
    started = time.monotonic()
    task = asyncio.create_task(call(mw, http_scope("POST", "/late"), b"late"))
    await until(lambda: counters.held == 1)
    assert app.calls == []
    assert not task.done()
    end_handoff(r, keys)
    exchange = await asyncio.wait_for(task, 3)
    assert time.monotonic() - started < 5  # decided again when the handoff ended
    assert (exchange.status, exchange.body) == (200, b"ok:late")
    assert app.calls == [("POST", "/late", b"late")]
    assert (counters.held, counters.released_total, counters.handed_off_total) == (0, 1, 0)


async def test_request_arriving_under_handoff_gets_307_after_handoff_delay(
    asgi: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = await handed_off_gate(asgi, r, keys, handoff_delay=0.3)
    counters = mw.gate.watcher.counters
    started = time.monotonic()
    exchange = await asyncio.wait_for(call(mw, http_scope("POST", "/late"), b"late"), 3)
    assert time.monotonic() - started >= 0.3
    assert_redirect(exchange, b"/late")
    assert app.calls == []
    assert (counters.held_total, counters.held, counters.handed_off_total) == (1, 0, 1)


async def test_request_arriving_under_handoff_without_delay_gets_307_at_once(
    asgi: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = await handed_off_gate(asgi, r, keys, handoff_delay=0)
    counters = mw.gate.watcher.counters
    scope = {**http_scope("PUT", "/doc"), "query_string": b"v=2"}
    # Never held, so nothing read ahead: the reply itself reads the body, every part.
    exchange = Exchange(chunked(b"a" * 70_000, b"b" * 70_000, b"c"))
    await asyncio.wait_for(mw(scope, exchange.receive, exchange.send), 3)
    assert_redirect(exchange, b"/doc?v=2")
    assert exchange.queue.empty()
    assert app.calls == []
    assert (counters.held_total, counters.handed_off_total) == (0, 1)


async def test_health_exempt_and_options_under_handoff_reach_the_app(
    asgi: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = await handed_off_gate(asgi, r, keys, handoff_delay=0, exempt_paths="/static/")
    health = await call(mw, http_scope("GET", "/healthz"))
    static = await call(mw, http_scope("GET", "/static/app.css"))
    preflight = await call(mw, http_scope("OPTIONS", "/notes"))
    other = await call(mw, http_scope("GET", "/notes"))
    assert [e.status for e in (health, static, preflight)] == [200, 200, 200]
    # Still this old process's last responses: each ends its connection.
    assert [values(e, b"connection") for e in (health, static, preflight)] == [[b"close"]] * 3
    assert_redirect(other, b"/notes")
    assert app.calls == [
        ("GET", "/healthz", b""),
        ("GET", "/static/app.css", b""),
        ("OPTIONS", "/notes", b""),
    ]


async def test_api_post_held_when_handoff_comes_gets_json_503_unless_redirect_chosen(
    asgi: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    rejecting = await held_gate(asgi, r, keys, api_prefixes="/api")
    redirecting = asgi(api_prefixes="/api", handoff_api="redirect")
    watcher = rejecting.gate.watcher
    assert redirecting.gate.watcher is watcher  # one watcher: one handoff for both
    api = asyncio.create_task(call(rejecting, http_scope("POST", "/api/x"), b"{}"))
    await until(lambda: watcher.counters.held == 1)
    redirected = asyncio.create_task(call(redirecting, http_scope("POST", "/api/x"), b"{}"))
    await until(lambda: watcher.counters.held == 2)
    hand_off(r, keys)
    rejected, followed = await asyncio.wait_for(asyncio.gather(api, redirected), 3)
    assert rejected.status == 503
    assert values(rejected, b"retry-after") == [b"1"]
    assert values(rejected, b"content-type") == [b"application/json"]
    assert values(rejected, b"x-gatekeeper") == [b"handoff"]
    assert values(rejected, b"connection") == [b"close"]
    payload = json.loads(rejected.body)
    assert (payload["reason"], payload["retry_after"]) == ("handoff", 1)
    assert_redirect(followed, b"/api/x")
    assert app.calls == []
    assert watcher.counters.handed_off_total == 2


async def test_websocket_held_in_old_release_when_handoff_comes_is_closed_1012(
    asgi: Callable[..., ASGIMiddleware], app: RecordingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = await held_gate(asgi, r, keys)
    counters = mw.gate.watcher.counters
    exchange = Exchange([{"type": "websocket.connect"}])
    task = asyncio.create_task(mw(WS_SCOPE, exchange.receive, exchange.send))
    await until(lambda: counters.held == 1)
    hand_off(r, keys)
    await asyncio.wait_for(task, 3)
    assert exchange.sent == [
        {"type": "websocket.accept"},
        {"type": "websocket.close", "code": 1012, "reason": "restart"},
    ]
    assert exchange.queue.empty()  # websocket.connect was taken before the accept
    assert app.scopes == []
    assert counters.handed_off_total == 1


# -- WSGI ------------------------------------------------------------------------------


class WSGICall:
    """One WSGI request, run to the end: its environ and what start_response got."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.body = b""

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        self.status, self.headers = status, headers
        return lambda data: None

    def run(self, middleware: WSGIMiddleware) -> WSGICall:
        result: Iterable[bytes] = middleware(self.environ, self.start_response)
        self.body = b"".join(result)
        return self

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def wsgi_environ(
    method: str = "GET",
    path: str = "/",
    *,
    script_name: str = "",
    query: str = "",
    body: bytes = b"",
) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "SERVER_NAME": "app.test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
    }


@pytest.fixture
def wsgi_app() -> CountingApp:
    return CountingApp()


@pytest.fixture
def wsgi(make_gate: Callable[..., Gate], wsgi_app: CountingApp) -> Callable[..., WSGIMiddleware]:
    def factory(**options: Any) -> WSGIMiddleware:
        options.setdefault("release", OLD)
        options.setdefault("hold_timeout", 10)
        return WSGIMiddleware(wsgi_app, gate=make_gate(**options))

    return factory


def test_wsgi_post_held_when_handoff_comes_gets_307_closes_and_reads_body(
    wsgi: Callable[..., WSGIMiddleware], wsgi_app: CountingApp, r: redis.Redis, keys: Keys
) -> None:
    mw = wsgi(handoff_delay=5)  # WSGI never paces: the held request gets it at once
    watcher = mw.gate.watcher
    set_state(r, keys, "hold")
    wait_for(lambda: seen(watcher, in_hold), 3, what="hold seen")
    body = b"z" * 200_000  # more than one read of the discarding loop
    request = WSGICall(wsgi_environ("POST", "/a b", script_name="/app", query="x=1", body=body))
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(request.run, mw)
        wait_for(lambda: watcher.counters.held == 1, 3, what="request held")
        assert wsgi_app.calls == []
        hand_off(r, keys)
        future.result(timeout=2)  # far less than handoff_delay
    assert request.status == "307 Temporary Redirect"
    assert request.header("Location") == ["/app/a%20b?x=1"]
    assert request.header("Retry-After") == ["0"]
    assert request.header("Cache-Control") == ["no-store"]
    assert request.header("X-Gatekeeper") == ["handoff"]
    assert request.header("Connection") == []  # PEP 3333: the server hooks close it
    assert request.environ[CLOSE_FLAG] is True
    stream = request.environ["wsgi.input"]
    assert stream.tell() == len(body)
    assert stream.read() == b""
    assert request.body == HANDOFF_NOTE
    assert wsgi_app.calls == []
    assert watcher.counters.handed_off_total == 1


def test_wsgi_request_arriving_under_handoff_gets_307_at_once_whatever_handoff_delay(
    wsgi: Callable[..., WSGIMiddleware], wsgi_app: CountingApp, r: redis.Redis, keys: Keys
) -> None:
    """WSGI never paces (commit 8b1e613: what reaches a thread was accepted before)."""
    mw = wsgi(handoff_delay=5)
    counters = mw.gate.watcher.counters
    hand_off(r, keys)
    wait_for(lambda: seen(mw.gate.watcher, handed_off), 3, what="handoff seen")
    body = b"{}"
    request = WSGICall(wsgi_environ("POST", "/notes", body=body)).run(mw)
    assert request.status == "307 Temporary Redirect"
    assert request.header("Location") == ["/notes"]
    assert request.environ[CLOSE_FLAG] is True
    assert request.environ["wsgi.input"].tell() == len(body)
    assert (counters.held_total, counters.handed_off_total) == (0, 1)  # never held
    assert wsgi_app.calls == []


@pytest.mark.parametrize("path", ["//evil.example/x", "///evil.example", "/\\evil.example"])
def test_wsgi_path_that_reads_as_another_host_redirects_on_same_origin(
    wsgi: Callable[..., WSGIMiddleware],
    wsgi_app: CountingApp,
    r: redis.Redis,
    keys: Keys,
    path: str,
) -> None:
    mw = wsgi(handoff_delay=0)
    hand_off(r, keys)
    wait_for(lambda: seen(mw.gate.watcher, handed_off), 3, what="handoff seen")
    request = WSGICall(wsgi_environ("GET", path, query="next=//evil.example")).run(mw)
    assert request.status == "307 Temporary Redirect"
    [location] = request.header("Location")
    assert not location.startswith("//")
    assert "\\" not in location
    joined = urlsplit(urljoin("http://app.test/page", location))
    assert (joined.scheme, joined.netloc) == ("http", "app.test")
    assert joined.query == "next=//evil.example"
    assert request.environ[CLOSE_FLAG] is True
    assert wsgi_app.calls == []
