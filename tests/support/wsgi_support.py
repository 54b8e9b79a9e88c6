"""The in-process WSGI harness: an app that records each call."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class CountingApp:
    """A WSGI app that records each call; ``POST /slow`` waits for ``gate_open``."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            self.calls.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app says hi"]
