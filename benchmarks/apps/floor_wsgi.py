"""Release-latency floor for WSGI: every request's thread waits on a ``threading.Event``.

The WSGI twin of :mod:`benchmarks.apps.floor_asgi`: one listener thread per process
(started by the first request, after the server forked) blocked on a Redis pub/sub
connection; a message on ``<BENCH_FLOOR_PREFIX>:floor`` sets the current event and arms
a fresh one. ``/healthz`` is never held. The held count goes to
``<prefix>:floor-held:<pid>`` every 0.25 s. Served by gunicorn with the gthread worker:
``gunicorn -k gthread --threads 64 benchmarks.apps.floor_wsgi:app``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from benchmarks.apps.variants import hello_body

REPORT_EVERY = 0.25


class Floor:
    def __init__(self) -> None:
        self.held = 0
        self.event = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        with self.lock:
            if self.thread is None:
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
            if message is not None:
                old, self.event = self.event, threading.Event()
                old.set()
            now = time.monotonic()
            if now >= next_report:
                client.set(held_key, self.held, ex=5)
                next_report = now + REPORT_EVERY

    def wait(self) -> None:
        event = self.event
        with self.lock:
            self.held += 1
        try:
            event.wait(120)
        finally:
            with self.lock:
                self.held -= 1


floor = Floor()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    floor.start()
    if environ.get("PATH_INFO") != "/healthz":
        floor.wait()
    body = hello_body()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
