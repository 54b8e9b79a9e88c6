"""A pure ASGI hello app, in the variant named by ``BENCH_VARIANT``.

Served by uvicorn: ``uvicorn benchmarks.apps.asgi_hello:app``. It answers the lifespan
protocol itself; the gate passes lifespan through and starts its watcher on startup.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from benchmarks.apps.variants import asgi_middleware, hello_body


async def hello(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = hello_body()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_middleware = asgi_middleware()
app: Any = hello if _middleware is None else _middleware(hello)
