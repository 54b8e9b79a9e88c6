"""ASGI middleware: hold, pass or turn away HTTP requests and WebSocket connections.

::

    app.add_middleware(gatekeeper.ASGIMiddleware, redis_url="redis://localhost:6379/0")

A pure ASGI middleware: ``lifespan`` and other scope types pass through untouched (the
lifespan start also starts the watcher early). A held request waits in its event
loop's parking lot (:mod:`gatekeeper.state._parking`), woken with every other there at a
state change, so holding costs no thread and no Redis connection. While an HTTP request
is held its body is read ahead (up to 1 MiB, then replayed to the app) so that a client
that gives up is noticed at once and its request never reaches the app. WebSocket
connections are held before the handshake; when refused they get a 503 response where
the server supports the ASGI ``websocket.http.response`` extension, else a close with
code 1013 (try again later).

Open-state cost per request: a few attribute reads, a string comparison, and an append
and a pop on the list of requests in flight.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

from gatekeeper.core.decision import HANDOFF, RequestFacts
from gatekeeper.core.handoff import DISCARD_LIMIT, encode_path
from gatekeeper.core.modes import SAFE_METHODS, Mode
from gatekeeper.core.responses import Reply
from gatekeeper.middleware._readahead import ReadAhead
from gatekeeper.middleware._types import ASGIApp, Message, Receive, Scope, Send
from gatekeeper.middleware.gate import DISCONNECTED, TIMED_OUT, Gate, Outcome
from gatekeeper.observe._routes import serve_scrape
from gatekeeper.options import GateOptions, build_options
from gatekeeper.state.watcher import StateWatcher

__all__ = ["ASGIMiddleware", "facts_from_scope"]


def facts_from_scope(scope: Scope, options: GateOptions) -> RequestFacts:
    wanted: dict[bytes, list[str]] = {
        b"x-forwarded-for": [],
        b"cookie": [],
        b"accept": [],
        options.bypass_header.lower().encode("latin-1"): [],
    }
    for name, value in scope.get("headers") or ():
        bucket = wanted.get(name.lower())
        if bucket is not None:
            bucket.append(value.decode("latin-1"))
    client = scope.get("client")
    path = scope.get("path") or "/"
    raw_path = scope.get("raw_path") or encode_path(path.encode("utf-8"))
    query = scope.get("query_string") or b""
    return RequestFacts(
        method=scope.get("method", "GET"),
        path=path,
        peer=client[0] if client else None,
        forwarded_for=",".join(wanted[b"x-forwarded-for"]) or None,
        bypass_header=next(iter(wanted[options.bypass_header.lower().encode("latin-1")]), None),
        cookie="; ".join(wanted[b"cookie"]) or None,
        accept=",".join(wanted[b"accept"]) or None,
        secure=scope.get("scheme") in ("https", "wss"),
        target=raw_path + b"?" + query if query else raw_path,
    )


class ASGIMiddleware:
    """Gate an ASGI application. See the module docstring."""

    __slots__ = ("_metrics_path", "_watcher", "app", "gate")

    def __init__(self, app: ASGIApp, *, gate: Gate | None = None, **options: Any) -> None:
        if gate is not None and options:
            raise ValueError("gatekeeper: pass either gate= or options, not both")
        self.app = app
        self.gate = gate or Gate(build_options(options))
        self._watcher = self.gate.watcher
        self._metrics_path = self.gate.options.metrics_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = self._watcher
        inside = watcher.open_inside
        if inside is not None and scope["type"] == "http":
            # The open path, inlined (no extra coroutine, no method call for a read):
            # count it in flight, call the app. Each step here is a share of a fast
            # app's whole request (benchmarks/README.md, "open"). The scrape is tested
            # for here, not by wrapping the app: a wrapper is a call more on every
            # request, some 600 instructions (callgrind), this test 20 when unset.
            path = self._metrics_path
            if path is not None and scope["path"] == path:
                await serve_scrape(scope, send)
                return
            method = scope["method"]
            if method == "GET" or method in SAFE_METHODS:
                inside.append(None)
                try:
                    await self.app(scope, receive, send)
                finally:
                    inside.pop()
                return
            counters = watcher.counters
            counters.enter(True)
            try:
                await self.app(scope, receive, send)
            finally:
                counters.leave(True)
            return
        snapshot = watcher.snapshot
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        if self._metrics_path is not None and scope["path"] == self._metrics_path:
            await serve_scrape(scope, send)  # in every state, never behind the gate
            return
        if snapshot is None and (await watcher.wait_ready_async()).plain:
            await self._call_app(scope, receive, send)
            return
        await self._gated(scope, receive, send)

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._websocket(scope, receive, send)
            return
        if kind == "lifespan":
            self._watcher.start()
            send = _LifespanSend(send, self._watcher)
        await self.app(scope, receive, send)

    async def _gated(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Gate.screen_async, with its hold waited out in this frame (a coroutine less per
        # held request, a level less to resume through when thousands are released),
        # and the read-ahead as its disconnect watch.
        watcher = self._watcher
        gate = self.gate
        now = time.time()
        snapshot = watcher.snapshot or await watcher.wait_ready_async()
        facts = facts_from_scope(scope, gate.options)
        outcome = gate.begin_hold(snapshot, facts, now)
        if outcome is None:
            read_ahead = ReadAhead(receive)
            lot = watcher.loop_lots.for_running_loop()
            spot = lot.spot()
            read_ahead.start(spot.unpark, lot.spawn)
            verdict = TIMED_OUT
            try:
                while True:
                    snapshot = watcher.snapshot or snapshot
                    verdict, left = gate.hold_step(snapshot, facts, now)
                    if left <= 0:
                        break
                    if read_ahead.gone:
                        verdict = DISCONNECTED
                        break
                    await spot.wait(left)
            finally:
                spot.leave()
                read_ahead.hand_over()
                outcome = gate.end_hold(verdict, facts, now)  # counted out even if cancelled
            if read_ahead.gone:
                return  # the client left while held: nothing to answer, nothing to run
            receive = read_ahead.receive
        send = _ClosingSend(send, watcher).send  # made now: not kept while held
        if outcome.reply is not None:
            if outcome.verdict is HANDOFF:
                # Read what is left of the body first: closing a connection with unread
                # bytes makes the kernel reset it, and the client may lose the redirect.
                await _discard_body(receive)
                await _send_reply(outcome.reply, send, close=True)
                return
            await _send_reply(outcome.reply, send)
        elif outcome.counted:
            # _call_app, inlined: a coroutine less to create and resume through for each
            # of the requests a release lets go at once.
            counters = watcher.counters
            write = scope["method"] not in SAFE_METHODS
            counters.enter(write)
            try:
                await self.app(scope, receive, send)
            finally:
                counters.leave(write)
        else:
            await self.app(scope, receive, send)

    async def _call_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, counted in flight (the first requests, before the first snapshot)."""
        counters = self._watcher.counters
        write = scope["method"] not in SAFE_METHODS
        counters.enter(write)
        try:
            await self.app(scope, receive, send)
        finally:
            counters.leave(write)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Long-lived connections are never counted in flight: a drain would wait forever.
        snapshot = self._watcher.snapshot or await self._watcher.wait_ready_async()
        if snapshot.mode is not Mode.OPEN or snapshot.handoff:
            outcome: Outcome = await self.gate.screen_async(
                facts_from_scope(scope, self.gate.options)
            )
            if outcome.reply is not None:
                await receive()  # websocket.connect
                if outcome.verdict is HANDOFF:
                    # 1012 "service restart": clients reconnect, and a new process takes it.
                    await send({"type": "websocket.accept"})
                    await send({"type": "websocket.close", "code": 1012, "reason": "restart"})
                elif "websocket.http.response" in (scope.get("extensions") or {}):
                    await _send_reply(outcome.reply, send, prefix="websocket.http.response")
                else:
                    await send({"type": "websocket.close", "code": 1013})
                return
        await self.app(scope, receive, send)


class _ClosingSend:
    """Its :meth:`send` ends the connection after a response started while keep-alive is
    off (``Connection: close``, which every ASGI server here honours and passes on).

    Used off the open path only: it is how requests pass while a reload is coming."""

    __slots__ = ("_send", "_watcher")

    def __init__(self, send: Send, watcher: StateWatcher) -> None:
        self._send = send
        self._watcher = watcher

    def send(self, message: Message) -> Awaitable[None]:
        # A method, not __call__ (a bound method is called without looking __call__ up
        # on the type), and not a coroutine: it returns the server's own awaitable, a
        # frame less per send.
        if message["type"] == "http.response.start":
            snapshot = self._watcher.snapshot
            if snapshot is not None and snapshot.closing:
                if self._watcher.recorder is not None:
                    self._watcher.recorder.keepalive_closed()
                headers = [
                    (name, value)
                    for name, value in message.get("headers") or ()
                    if name.lower() != b"connection"
                ]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
        return self._send(message)


class _LifespanSend:
    """``send`` of the lifespan scope: at shutdown, withdraw this process's report.

    Servers that run workers with ``multiprocessing`` (uvicorn) end them with
    ``os._exit``, so ``atexit`` never runs there; the lifespan shutdown comes once the
    worker has finished its requests, and a runner then sees it leave at once instead
    of when its report expires."""

    __slots__ = ("_send", "_watcher")

    def __init__(self, send: Send, watcher: StateWatcher) -> None:
        self._send = send
        self._watcher = watcher

    async def __call__(self, message: Message) -> None:
        if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            self._watcher.close()
        await self._send(message)


async def _discard_body(receive: Receive) -> None:
    """Read a request's body to its end (up to 1 MiB, then give up) without keeping it."""
    size = 0
    while size <= DISCARD_LIMIT:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return
        size += len(message.get("body", b""))


async def _send_reply(
    reply: Reply, send: Send, prefix: str = "http.response", *, close: bool = False
) -> None:
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": f"{prefix}.start", "status": reply.status, "headers": headers})
    await send({"type": f"{prefix}.body", "body": reply.body})
