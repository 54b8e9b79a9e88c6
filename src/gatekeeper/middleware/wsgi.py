"""WSGI middleware: hold, pass or turn away requests according to the shared state.

::

    from gatekeeper import WSGIMiddleware
    application = WSGIMiddleware(application, redis_url="redis://localhost:6379/0")

Options are keyword arguments, each falling back to its ``GATEKEEPER_*`` environment
variable (see :mod:`gatekeeper.options`). A held request blocks its worker thread
until the state changes or its deadline passes; size the server's threads and timeout
to match (``hold_timeout`` defaults to 15 s, under gunicorn's 30 s worker timeout).

In-flight requests are counted until the response iterable is closed, so a streamed
response still counts while it streams.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from gatekeeper.core.decision import HANDOFF, RequestFacts
from gatekeeper.core.handoff import DISCARD_LIMIT, encode_path
from gatekeeper.core.modes import SAFE_METHODS
from gatekeeper.middleware.gate import Gate
from gatekeeper.observe._routes import serve_scrape_wsgi
from gatekeeper.options import GateOptions, build_options
from gatekeeper.state.counters import Counters

if TYPE_CHECKING:
    from gatekeeper.middleware._types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["CLOSE_FLAG", "WSGIMiddleware", "discard_body", "facts_from_environ"]


def _target(environ: WSGIEnvironment) -> bytes:
    # PEP 3333 strings are bytes decoded as latin-1; PATH_INFO is percent-decoded.
    path = (environ.get("SCRIPT_NAME", "") + (environ.get("PATH_INFO") or "/")).encode("latin-1")
    target = encode_path(path)
    query = environ.get("QUERY_STRING", "")
    return target + b"?" + query.encode("latin-1") if query else target


def facts_from_environ(environ: WSGIEnvironment, options: GateOptions) -> RequestFacts:
    header = "HTTP_" + options.bypass_header.upper().replace("-", "_")
    return RequestFacts(
        method=environ.get("REQUEST_METHOD", "GET"),
        path=environ.get("PATH_INFO") or "/",
        peer=environ.get("REMOTE_ADDR"),
        forwarded_for=environ.get("HTTP_X_FORWARDED_FOR"),
        bypass_header=environ.get(header),
        cookie=environ.get("HTTP_COOKIE"),
        accept=environ.get("HTTP_ACCEPT"),
        secure=environ.get("wsgi.url_scheme") == "https",
        target=_target(environ),
    )


class _CountedBody:
    """Wraps a streamed response so the request leaves the in-flight count on close."""

    __slots__ = ("_counters", "_done", "_iterable", "_iterator", "_write")

    def __init__(self, iterable: Iterable[bytes], counters: Counters, write: bool) -> None:
        self._iterable = iterable
        self._iterator = iter(iterable)
        self._counters = counters
        self._write = write
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._iterator)

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        finally:
            self._counters.leave(self._write)


CLOSE_FLAG = "gatekeeper.close_connection"
"""Set in ``environ`` while keep-alive is off: how a server hook learns it (waitress)."""


def _closing(environ: WSGIEnvironment, start_response: StartResponse) -> StartResponse:
    """Ask the server to end the connection after this response, in its own way.

    PEP 3333 forbids hop-by-hop headers from apps: gunicorn drops them (its
    ``pre_request`` hook in ``gatekeeper.contrib.gunicorn`` closes instead) and waitress
    raises (``gatekeeper.contrib.waitress`` reads the environ flag). Granian honours the
    header, so it alone gets one.
    """
    environ[CLOSE_FLAG] = True
    if not str(environ.get("SERVER_SOFTWARE", "")).startswith("Granian"):
        return start_response

    def close_after(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        kept = [(name, value) for name, value in headers if name.lower() != "connection"]
        return start_response(status, [*kept, ("Connection", "close")], exc_info)

    return close_after


def discard_body(environ: WSGIEnvironment) -> None:
    """Read a declared body (up to 1 MiB) before answering without it: closing a
    connection with unread bytes makes the kernel reset it, losing the answer."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if not 0 < length <= DISCARD_LIMIT:
        return
    stream = environ.get("wsgi.input")
    with contextlib.suppress(OSError, ValueError):
        while length > 0 and stream is not None:
            chunk = stream.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)


class WSGIMiddleware:
    """Gate a WSGI application. See the module docstring."""

    def __init__(self, app: WSGIApplication, *, gate: Gate | None = None, **options: Any) -> None:
        if gate is not None and options:
            raise ValueError("gatekeeper: pass either gate= or options, not both")
        self.app = app
        self.gate = gate or Gate(build_options(options))
        self._watcher = self.gate.watcher
        self._metrics_path = self.gate.options.metrics_path

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = self._metrics_path
        if path is not None and environ.get("PATH_INFO") == path:
            return serve_scrape_wsgi(environ, start_response)  # in every state
        snapshot = self._watcher.snapshot or self._watcher.wait_ready()
        if snapshot.plain:
            return self._call_app(environ, start_response)
        if snapshot.closing:
            start_response = _closing(environ, start_response)
            if self._watcher.recorder is not None:
                self._watcher.recorder.keepalive_closed()
        outcome = self.gate.screen(facts_from_environ(environ, self.gate.options))
        if outcome.reply is not None:
            reply = outcome.reply
            if outcome.verdict is HANDOFF:
                discard_body(environ)
                if not snapshot.closing:
                    start_response = _closing(environ, start_response)
            start_response(reply.status_line, reply.headers)
            return [reply.body]
        if not outcome.counted:
            return self.app(environ, start_response)
        return self._call_app(environ, start_response)

    def _call_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        counters = self._watcher.counters
        write = environ.get("REQUEST_METHOD", "GET") not in SAFE_METHODS
        counters.enter(write)
        try:
            result = self.app(environ, start_response)
        except BaseException:
            counters.leave(write)
            raise
        if type(result) is list:
            # The body is already computed: the request's work is done.
            counters.leave(write)
            return result
        return _CountedBody(result, counters, write)
