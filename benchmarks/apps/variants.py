"""Choose the variant of a benchmark app: bare, behind the gate, or behind a naive check.

The naive middlewares are what a straightforward implementation would do: one Redis
client per process (created lazily, after the server forked) and one ``GET`` of the
state key per request. They answer 503 when the state is anything but open.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import redis
import redis.asyncio

from gatekeeper import ASGIMiddleware, WSGIMiddleware

__all__ = ["NaiveASGI", "NaiveWSGI", "asgi_middleware", "hello_body", "variant", "wrap_wsgi"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

_OPEN = (b"", b"open")


def variant() -> str:
    name = os.environ.get("BENCH_VARIANT", "bare")
    if name not in ("bare", "gate", "naive"):
        raise ValueError(f"BENCH_VARIANT must be bare, gate or naive, not {name!r}")
    return name


def hello_body() -> bytes:
    return f"hello from {os.getpid()}".encode()


def _redis_url() -> str:
    return os.environ.get("GATEKEEPER_REDIS_URL", "redis://127.0.0.1:6379/0")


def _state_key() -> str:
    return os.environ.get("GATEKEEPER_PREFIX", "gatekeeper") + ":state"


_UNAVAILABLE = b"service unavailable"


class NaiveWSGI:
    """GET the state from Redis on every request (redis-py, blocking)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.key = _state_key()
        self._client: redis.Redis | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        client = self._client
        if client is None:
            client = self._client = redis.Redis.from_url(_redis_url())
        value = client.get(self.key)
        if value is not None and value.strip().lower() not in _OPEN:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [_UNAVAILABLE]
        return self.app(environ, start_response)


class NaiveASGI:
    """GET the state from Redis on every HTTP request (``redis.asyncio``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.key = _state_key()
        self._client: redis.asyncio.Redis | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = self._client
        if client is None:
            client = self._client = redis.asyncio.Redis.from_url(_redis_url())
        value = await client.get(self.key)
        if value is not None and value.strip().lower() not in _OPEN:
            headers = [(b"content-type", b"text/plain")]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": _UNAVAILABLE})
            return
        await self.app(scope, receive, send)


def wrap_wsgi(app: WSGIApp) -> WSGIApp:
    """The WSGI app in the variant named by ``BENCH_VARIANT``."""
    name = variant()
    if name == "gate":
        return WSGIMiddleware(app)
    if name == "naive":
        return NaiveWSGI(app)
    return app


def asgi_middleware() -> type[ASGIMiddleware] | type[NaiveASGI] | None:
    """The ASGI middleware class of the variant (``None`` for bare)."""
    return {"gate": ASGIMiddleware, "naive": NaiveASGI}.get(variant())
