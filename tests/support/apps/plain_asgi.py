"""A pure ASGI app behind the gate, configured from GATEKEEPER_* environment variables."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from gatekeeper import ASGIMiddleware


async def _sleep(seconds: float) -> None:
    """``asyncio.sleep``, or ``trio.sleep`` under ``hypercorn -k trio``."""
    trio: Any = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            pass
        else:
            await trio.sleep(seconds)
            return
    await asyncio.sleep(seconds)


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["path"] == "/slow":
        await _sleep(float(os.environ.get("SLOW_SECONDS", "1")))
    body = f"hello from {os.getpid()}".encode()
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


app = ASGIMiddleware(hello)
