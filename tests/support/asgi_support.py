"""The in-process ASGI harness: a recording app and one request's exchange, typed.

Built on anyio's primitives, so it serves tests under asyncio (pytest-asyncio's) and
under trio alike (``run_async`` in tests/conftest.py).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Generic, TypeVar

import anyio

from gatekeeper import ASGIMiddleware

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

T = TypeVar("T")


class MessageQueue(Generic[T]):
    """What a server's ``receive`` reads from: ``asyncio.Queue``'s ``get``, ``put_nowait``,
    ``empty`` and ``qsize``, on an ``anyio.Event``, so under any async library.

    An item counts as queued until a ``get`` has taken it, as in ``asyncio.Queue`` (an
    anyio memory stream hands it to a waiting reader at once, before that reader runs),
    and there is nothing to close (an unclosed memory stream warns when collected).
    """

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: deque[T] = deque(items)
        self._arrived: anyio.Event | None = None

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        arrived, self._arrived = self._arrived, None
        if arrived is not None:
            arrived.set()

    async def get(self) -> T:
        while not self._items:
            if self._arrived is None:
                self._arrived = anyio.Event()
            await self._arrived.wait()
        return self._items.popleft()

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class RecordingApp:
    """An ASGI app that records each call and echoes the body it read."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []
        self.scopes: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope["type"])
        if scope["type"] == "lifespan":
            message = await receive()
            await send({"type": f"{message['type']}.complete"})
            return
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})
            self.calls.append(("WS", scope["path"], b""))
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.calls.append((scope["method"], scope["path"], body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok:" + body})


def http_scope(
    method: str = "GET", path: str = "/", headers: list[tuple[bytes, bytes]] | None = None
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "query_string": b"",
        "headers": headers or [],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


class Exchange:
    """One request: feeds ``incoming`` to the app and collects what it sends."""

    def __init__(self, incoming: list[Message]) -> None:
        self.queue: MessageQueue[Message] = MessageQueue(incoming)
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        return await self.queue.get()

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"].endswith("response.start")]
        return int(starts[0]["status"]) if starts else None

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"].endswith(".body"))

    def header(self, name: bytes) -> bytes | None:
        start = next(m for m in self.sent if m["type"].endswith("response.start"))
        value: bytes | None = dict(start["headers"]).get(name)
        return value


def request(body: bytes = b"") -> Exchange:
    """An exchange whose request sends ``body`` in one ``http.request`` message."""
    return Exchange([{"type": "http.request", "body": body, "more_body": False}])


async def call(mw: ASGIMiddleware, scope: Scope, body: bytes = b"") -> Exchange:
    exchange = request(body)
    await mw(scope, exchange.receive, exchange.send)
    return exchange


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:  # noqa: ASYNC109
    """Poll ``predicate`` on the loop until it holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        await anyio.sleep(0.002)
