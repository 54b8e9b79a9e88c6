"""The gate's own cost per open-state request, measured in-process (no server, no load).

The middleware is called directly, in a loop, around the same hello app as the servers
use, alternating bare and gated runs (``repeats`` x ``calls``); the difference of the
medians is what the gate adds to one request, in microseconds. Unlike throughput under
wrk, this does not move with other load on the machine, so the open-path section turns
it into an estimate beside each measured ratio: bare server CPU per request /
(bare CPU per request + gate cost).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from benchmarks.apps.asgi_hello import hello as asgi_hello
from benchmarks.apps.wsgi_hello import hello as wsgi_hello
from benchmarks.stats import median
from gatekeeper import ASGIMiddleware, WSGIMiddleware

__all__ = ["gate_cost_us"]


def _wsgi_loop(app: Callable[..., Any], calls: int) -> float:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.url_scheme": "http"}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        return None

    started = time.perf_counter()
    for _ in range(calls):
        app(environ, start_response)
    return (time.perf_counter() - started) / calls


async def _asgi_loop(app: Callable[..., Any], calls: int) -> float:
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "headers": []}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    started = time.perf_counter()
    for _ in range(calls):
        await app(scope, receive, send)
    return (time.perf_counter() - started) / calls


def gate_cost_us(
    redis_url: str, prefix: str, repeats: int = 7, calls: int = 20000
) -> dict[str, float]:
    """Microseconds the gate adds to one open-state request, WSGI and ASGI."""
    wsgi_gate = WSGIMiddleware(wsgi_hello, redis_url=redis_url, prefix=prefix)
    asgi_gate = ASGIMiddleware(asgi_hello, redis_url=redis_url, prefix=prefix)
    wsgi_gate.gate.watcher.wait_ready()
    times: dict[str, list[float]] = {"wsgi": [], "wsgi_gate": [], "asgi": [], "asgi_gate": []}
    for _ in range(repeats):
        times["wsgi"].append(_wsgi_loop(wsgi_hello, calls))
        times["wsgi_gate"].append(_wsgi_loop(wsgi_gate, calls))
        times["asgi"].append(asyncio.run(_asgi_loop(asgi_hello, calls)))
        times["asgi_gate"].append(asyncio.run(_asgi_loop(asgi_gate, calls)))
    wsgi_gate.gate.watcher.close()
    med = {name: (median(values) or 0.0) * 1e6 for name, values in times.items()}
    return {
        "wsgi_app_us": med["wsgi"],
        "wsgi_gate_us": med["wsgi_gate"] - med["wsgi"],
        "asgi_app_us": med["asgi"],
        "asgi_gate_us": med["asgi_gate"] - med["asgi"],
    }
