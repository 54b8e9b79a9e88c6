"""The app's own ``metrics_path``: served in front of the app, behind no gate.

The WSGI and ASGI middleware answer it before the gate decides anything; under Django
the route wraps the rest of ``MIDDLEWARE`` behind the gate, which passes
``metrics_path`` in every state as it does an exempt path. Either way a scrape is
answered whatever the state and never reaches the app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gatekeeper.middleware._types import (
        Scope,
        Send,
        StartResponse,
        WSGIEnvironment,
    )

__all__ = ["answer_scrape", "serve_scrape", "serve_scrape_wsgi"]

_ALLOW = "GET, HEAD"


def answer_scrape(method: str, accept: str | None) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status line, headers and body of an answer to a request for the metrics path."""
    if method not in ("GET", "HEAD"):
        return "405 Method Not Allowed", [("Allow", _ALLOW), ("Content-Length", "0")], b""
    try:
        from gatekeeper.observe.exposition import scrape

        body, content_type = scrape(accept)
    except Exception:  # a broken multiprocess file must not become a traceback
        body = b"gatekeeper: the metrics could not be read; see the server log\n"
        headers = [("Content-Type", "text/plain; charset=utf-8")]
        return "500 Internal Server Error", [*headers, ("Content-Length", str(len(body)))], body
    headers = [
        ("Content-Type", content_type),
        ("Cache-Control", "no-store"),
        ("Content-Length", str(len(body))),
    ]
    return "200 OK", headers, b"" if method == "HEAD" else body


def serve_scrape_wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Answer a WSGI request for the metrics path."""
    method = environ.get("REQUEST_METHOD", "GET")
    status, headers, body = answer_scrape(method, environ.get("HTTP_ACCEPT"))
    start_response(status, headers)
    return [body]


async def serve_scrape(scope: Scope, send: Send) -> None:
    """Answer an ASGI request for the metrics path."""
    accept = None
    for name, value in scope.get("headers") or ():
        if name.lower() == b"accept":
            accept = value.decode("latin-1")
    status, headers, body = answer_scrape(scope.get("method", "GET"), accept)
    await send(
        {
            "type": "http.response.start",
            "status": int(status.split(" ", 1)[0]),
            "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
