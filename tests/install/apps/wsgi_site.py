"""A WSGI app with no framework behind the gate (wheel + gunicorn only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gatekeeper import WSGIMiddleware


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = b"ok" if environ.get("PATH_INFO") == "/healthz" else b"hello from wsgi"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = WSGIMiddleware(hello)
