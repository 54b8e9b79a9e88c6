"""A pure ASGI app behind the gate that runs under any async library (asyncio or trio).

It records the requests that reached it, so a test can tell that a held request whose
client left never ran: ``GET /calls`` (exempt from the gate) answers them as JSON.
``/echo`` answers the body it read; a WebSocket is accepted and sent ``hello``.
"""

from __future__ import annotations

import json
from typing import Any

from gatekeeper import ASGIMiddleware

calls: list[str] = []


async def _respond(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        calls.append("WS " + scope["path"])
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "hello"})
        await send({"type": "websocket.close", "code": 1000})
        return
    if scope["path"] == "/calls":
        await _respond(send, 200, json.dumps(calls).encode())
        return
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    calls.append(f"{scope['method']} {scope['path']}")
    await _respond(send, 200, b"ok:" + body)


app = ASGIMiddleware(inner, exempt_paths=["/calls"])
