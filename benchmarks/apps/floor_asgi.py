"""Release-latency floor for ASGI: every request waits on a bare ``asyncio.Event``.

The same server as the gate's, the same wake-up path (one listener thread per process
blocked on a Redis pub/sub connection, ``call_soon_threadsafe`` into the event loop),
and nothing else: no decision, no read-ahead, no deadline. A message on
``<BENCH_FLOOR_PREFIX>:floor`` releases every waiting request and arms a fresh event
for the next round. ``/healthz`` is never held. For the propagation floor, a message
``close`` or ``open`` also sets a flag that ``/probe`` answers with (503 or 200) without
any Redis read: a pub/sub message carrying the state is the least work a process can
do to obey a change. Every 0.25 s the listener writes this
process's held count to ``<prefix>:floor-held:<pid>`` so the runner knows when all
requests are waiting. Served by uvicorn: ``uvicorn benchmarks.apps.floor_asgi:app``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import redis

from benchmarks.apps.variants import hello_body

REPORT_EVERY = 0.25


class Floor:
    def __init__(self) -> None:
        self.held = 0
        self.closed = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.event = asyncio.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is not None:
            return
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()
        self.thread = threading.Thread(target=self._listen, name="floor", daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        prefix = os.environ["BENCH_FLOOR_PREFIX"]
        client = redis.Redis.from_url(os.environ["GATEKEEPER_REDIS_URL"])
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        pubsub.subscribe(f"{prefix}:floor")
        held_key = f"{prefix}:floor-held:{os.getpid()}"
        next_report = 0.0
        while True:
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=REPORT_EVERY)
            if message is not None and self.loop is not None:
                if message["data"] in (b"close", b"open"):
                    self.closed = message["data"] == b"close"
                self.loop.call_soon_threadsafe(self._release)
            now = time.monotonic()
            if now >= next_report:
                client.set(held_key, self.held, ex=5)
                next_report = now + REPORT_EVERY

    def _release(self) -> None:
        old, self.event = self.event, asyncio.Event()
        old.set()


floor = Floor()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                floor.start()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    floor.start()
    if scope["path"] == "/probe":
        status = 503 if floor.closed else 200
        headers = [(b"content-length", b"0")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["path"] != "/healthz":
        floor.held += 1
        try:
            await floor.event.wait()
        finally:
            floor.held -= 1
    body = hello_body()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
