"""gunicorn server hooks: end kept-alive connections while keep-alive is off.

gunicorn drops hop-by-hop headers that a WSGI app sets (PEP 3333 forbids them), so the
gate cannot end a connection with ``Connection: close`` by itself. These hooks do it from
gunicorn's side, by setting the request's close flag: gunicorn then sends
``Connection: close`` and closes the connection after the response. ::

    # gunicorn.conf.py
    from gatekeeper.contrib.gunicorn import (  # noqa: F401
        child_exit, post_worker_init, pre_request, worker_exit,
    )

or, without a configuration file of your own, ``gunicorn -c python:gatekeeper.contrib.gunicorn``.
Under the ``gthread`` worker this is what makes ``gatekeeper reload`` lose nothing; the
``sync`` worker closes every connection anyway. ASGI workers (``uvicorn``) need no hook:
the ASGI middleware sends the header itself. With ``PROMETHEUS_MULTIPROC_DIR`` set,
``child_exit`` keeps the metrics of the workers that exited out of the scrape.
"""

from __future__ import annotations

from typing import Any

from gatekeeper.middleware._write_cap import set_server_threads
from gatekeeper.state._watchers import close_all, keepalive_off, start_all

__all__ = ["child_exit", "post_worker_init", "pre_request", "worker_exit"]


def post_worker_init(worker: Any) -> None:
    """Tell the gate this worker's thread count (under ``readonly`` it holds writes in at
    most half of them, so that reads keep flowing), and start its watcher: the worker
    reports in at once, which ``run-migration --await-release`` waits for after a
    restart, rather than at its first request."""
    set_server_threads(int(getattr(worker.cfg, "threads", 1) or 1))
    start_all()


def pre_request(worker: Any, req: Any) -> None:
    """Mark the request to close its connection while keep-alive is off (no Redis call)."""
    if keepalive_off():
        req.must_close = True


def worker_exit(server: Any, worker: Any) -> None:
    """Withdraw the exiting worker's report at once, so a reload need not wait for it to
    expire (``atexit`` does the same where the interpreter exits normally)."""
    close_all()


def child_exit(server: Any, worker: Any) -> None:
    """In gunicorn's master, when a worker has exited (killed or not): drop its ``live``
    Prometheus gauges (held requests, state) from ``PROMETHEUS_MULTIPROC_DIR``, so that
    a scrape stops counting a process that is gone. Counters keep its counts."""
    import os

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        return
    try:
        from prometheus_client.multiprocess import mark_process_dead
    except ImportError:
        return
    mark_process_dead(worker.pid, path)  # type: ignore[no-untyped-call]
