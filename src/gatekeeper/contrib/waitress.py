"""waitress with keep-alive under the gate's control: ``serve`` and ``create_server``.

waitress refuses a ``Connection`` header from a WSGI app (PEP 3333 forbids hop-by-hop
headers), so while keep-alive is off the gate only flags the request in ``environ``, and
the task class installed here closes the connection after the response, with
``Connection: close``. Use it in place of ``waitress.serve``::

    from gatekeeper.contrib.waitress import serve
    serve(application, listen="0.0.0.0:8080", threads=16)
"""

from __future__ import annotations

from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.server import create_server as _create_server
from waitress.task import WSGITask

from gatekeeper.middleware._write_cap import set_server_threads
from gatekeeper.middleware.wsgi import CLOSE_FLAG

__all__ = ["create_server", "serve"]


class _ClosingTask(WSGITask):  # type: ignore[misc]
    def build_response_header(self) -> Any:
        # Runs at the first write, after start_response: the flag is set by then.
        environ = self.environ
        if environ is not None and environ.get(CLOSE_FLAG):
            self.set_close_on_finish()
        return super().build_response_header()


class _ClosingChannel(HTTPChannel):  # type: ignore[misc]
    task_class = _ClosingTask


def create_server(application: Any, **kw: Any) -> Any:
    """``waitress.create_server`` whose connections obey the gate's keep-alive switch."""
    server = _create_server(application, **kw)
    set_server_threads(server.adj.threads)
    if isinstance(server, BaseWSGIServer):
        targets = [server]
    else:  # a MultiSocketServer keeps its per-address servers only in its socket map
        targets = [d for d in server.map.values() if isinstance(d, BaseWSGIServer)]
    for target in targets:
        target.channel_class = _ClosingChannel
    return server


def serve(application: Any, **kw: Any) -> None:
    """``waitress.serve`` with :func:`create_server`."""
    server = create_server(application, **kw)
    server.print_listen("Serving on http://{}:{}")
    server.run()
