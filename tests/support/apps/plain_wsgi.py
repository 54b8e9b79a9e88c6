"""A plain WSGI app behind the gate, configured from GATEKEEPER_* environment variables."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from gatekeeper import WSGIMiddleware


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    if environ.get("PATH_INFO") == "/slow":
        time.sleep(float(os.environ.get("SLOW_SECONDS", "1")))
    body = f"hello from {os.getpid()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = WSGIMiddleware(hello)
