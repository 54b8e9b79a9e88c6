"""How many held writes a thread-based (WSGI) process may keep under ``readonly``.

Each held request holds a server thread. Under ``readonly`` reads keep flowing by design,
but if held writes took every thread, reads would queue behind them: measured under
gunicorn gthread (2 x 25 threads) at 200 req/s, only 634 of 901 reads were answered
during a 6 s migration. So a process holds at most half its threads' worth of writes;
a write beyond that gets the read-only 503 (with ``Retry-After``) at once. The thread
count comes from the server hooks of ``gatekeeper.contrib`` (gunicorn, waitress); without
them the default below is used. ``max_held_writes`` overrides both.
"""

from __future__ import annotations

__all__ = ["DEFAULT_WRITE_CAP", "set_server_threads", "write_hold_cap"]

DEFAULT_WRITE_CAP = 8
"""Held writes per process when the server's thread count is unknown."""

_threads: int | None = None


def set_server_threads(threads: int) -> None:
    """Called by a server hook once per worker process with its request threads."""
    global _threads
    _threads = max(1, int(threads))


def write_hold_cap(configured: int | None) -> int:
    if configured is not None:
        return configured
    if _threads is None:
        return DEFAULT_WRITE_CAP
    return max(1, _threads // 2)
