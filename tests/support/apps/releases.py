"""An app that knows which release it runs, for the handoff tests and the demo.

The release is read once, at import, from the file named by ``RELEASE_FILE``: a restart
that rewrites the file and reloads the server gives the new workers the new release,
as a deploy of new code would. Each response carries ``X-Release``. Each request with an
``X-Request-Id`` is journaled to ``JOURNAL_PATH`` as "<id> <release> <pid> <time> <ok>",
where ``ok`` says whether a POST's body arrived intact (it must be ``{"id": "<id>"}``).

With ``DATABASE_URL`` (PostgreSQL) each request also touches the schema its release
expects: release ``v1`` reads and writes table ``notes``, any other release ``entries``,
the name a migration renames it to. Old code after that migration fails with
``UndefinedTable``, as it would in production: the case the handoff exists for.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gatekeeper import ASGIMiddleware, WSGIMiddleware

RELEASE = Path(os.environ["RELEASE_FILE"]).read_text().strip()
TABLE = "notes" if RELEASE == "v1" else "entries"


_local = threading.local()


def _touch_database(request_id: str, write: bool) -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return
    import psycopg  # only the PostgreSQL tests install and need it

    # One connection per thread, kept, as an app's pool would: a connection per request
    # would make PostgreSQL's fork per connection the bottleneck of the release burst.
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
    if write:
        conn.execute(f"INSERT INTO {TABLE} (request_id) VALUES (%s)", (request_id,))
    else:
        conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()


def _handle(method: str, path: str, request_id: str | None, body: bytes) -> tuple[int, bytes]:
    if path == "/healthz":
        return 200, b"ok"
    intact = "-"
    if method == "POST":
        try:
            intact = "ok" if json.loads(body) == {"id": request_id} else "bad"
        except ValueError:
            intact = "bad"
    try:
        _touch_database(request_id or "-", write=method == "POST")
    except Exception as exc:  # the old code on the new schema: a 500, as in production
        return 500, f"{RELEASE}: {exc.__class__.__name__}\n".encode()
    if request_id:
        # One short O_APPEND write per line: lines from several processes do not interleave.
        with open(os.environ["JOURNAL_PATH"], "a", encoding="ascii") as journal:
            journal.write(f"{request_id} {RELEASE} {os.getpid()} {time.time():.4f} {intact}\n")
    return 200, f"{RELEASE} {request_id or '-'}\n".encode()


def _wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    status, text = _handle(
        environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/"),
        environ.get("HTTP_X_REQUEST_ID"), body,
    )  # fmt: skip
    start_response(
        "200 OK" if status == 200 else "500 Internal Server Error",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(text))),
         ("X-Release", RELEASE)],
    )  # fmt: skip
    return [text]


async def _asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": RELEASE})
        await send({"type": "websocket.close", "code": 1000})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = dict(scope["headers"])
    request_id = headers.get(b"x-request-id", b"").decode() or None
    status, text = await asyncio.to_thread(
        _handle, scope["method"], scope["path"], request_id, body
    )
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-length", str(len(text)).encode()), (b"x-release", RELEASE.encode()),
    ]})  # fmt: skip
    await send({"type": "http.response.body", "body": text})


wsgi_app = WSGIMiddleware(_wsgi, release=RELEASE)
asgi_app = ASGIMiddleware(_asgi, release=RELEASE)
