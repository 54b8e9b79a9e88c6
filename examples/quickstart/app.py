"""The smallest gated app: a WSGI hello world behind gatekeeper.WSGIMiddleware.

Run it with gunicorn; configure the gate with GATEKEEPER_* environment variables:

    GATEKEEPER_REDIS_URL=redis://127.0.0.1:6379/0 gunicorn examples.quickstart.app:app
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gatekeeper import WSGIMiddleware


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = b"hello, world\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = WSGIMiddleware(hello)
