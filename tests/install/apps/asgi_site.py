"""An ASGI app with no framework behind the gate (wheel + uvicorn only)."""

from __future__ import annotations

from typing import Any

from gatekeeper import ASGIMiddleware


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    body = b"ok" if scope["path"] == "/healthz" else b"hello from asgi"
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


app = ASGIMiddleware(hello)
