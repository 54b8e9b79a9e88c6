"""Apps that write one journal line per request they process: "<request id> <pid> <time>".

The fault tests compare the journal with what clients saw: every 200 must be in it
exactly once, every 503 must be absent (it never reached the app), nothing twice.
Configured by JOURNAL_PATH and SLOW_SECONDS; gated from GATEKEEPER_* variables.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

from gatekeeper import ASGIMiddleware, WSGIMiddleware


def _record(request_id: str) -> bytes:
    # One short O_APPEND write per line: lines from several processes do not interleave.
    with open(os.environ["JOURNAL_PATH"], "a", encoding="ascii") as journal:
        journal.write(f"{request_id} {os.getpid()} {time.time():.4f}\n")
    return f"done {request_id}\n".encode()


def _wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    path = environ.get("PATH_INFO", "/")
    if path == "/healthz":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    if path.startswith("/slow"):
        time.sleep(float(os.environ.get("SLOW_SECONDS", "1")))
    body = _record(environ.get("HTTP_X_REQUEST_ID", "-"))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def _asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    while (await receive()).get("more_body"):
        pass
    headers = dict(scope["headers"])
    if scope["path"] == "/healthz":
        body = b"ok"
    else:
        if scope["path"].startswith("/slow"):
            await asyncio.sleep(float(os.environ.get("SLOW_SECONDS", "1")))
        body = _record(headers.get(b"x-request-id", b"-").decode())
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


wsgi_app = WSGIMiddleware(_wsgi)
asgi_app = ASGIMiddleware(_asgi)
