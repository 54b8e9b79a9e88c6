"""The app's own ``metrics_path``: served in front of the app, behind no gate.

The gate passes ``metrics_path`` in every state, as it does an exempt path, and these
wrappers sit between the gate and the app: a scrape is answered whatever the state,
and never reaches the app. They wrap the app only when ``metrics_path`` is set, so an
app without it pays nothing on its requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gatekeeper.middleware._types import (
        ASGIApp,
        Receive,
        Scope,
        Send,
        StartResponse,
        WSGIApplication,
        WSGIEnvironment,
    )

__all__ = ["ASGIMetricsRoute", "WSGIMetricsRoute", "answer_scrape"]

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


class WSGIMetricsRoute:
    __slots__ = ("app", "path")

    def __init__(self, app: WSGIApplication, path: str) -> None:
        self.app = app
        self.path = path

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self.path:
            return self.app(environ, start_response)
        status, headers, body = answer_scrape(
            environ.get("REQUEST_METHOD", "GET"), environ.get("HTTP_ACCEPT")
        )
        start_response(status, headers)
        return [body]


class ASGIMetricsRoute:
    __slots__ = ("app", "path")

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: the app's own awaitable is returned, a frame less per request.
        if scope["type"] != "http" or scope["path"] != self.path:
            return self.app(scope, receive, send)
        return self._serve(scope, send)

    async def _serve(self, scope: Scope, send: Send) -> None:
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
