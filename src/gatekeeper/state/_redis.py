"""The Redis clients gatekeeper makes, with their timeouts, in one place.

The watcher's client never retries on its own: every lost connection must reach the
watcher's loop, which reconnects and then knows the next read follows a gap (see
``snapshot.keep_vanished``). The operator's client keeps redis-py's retries: a command
typed by hand may as well survive a blip.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["operator_client", "watcher_client"]


def watcher_client(url: str, timeout: float) -> redis.Redis:
    """A client for a gate process's watcher thread: bounded, no silent retries."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry_on_timeout=False,
        retry=Retry(NoBackoff(), 0),
    )


def operator_client(url: str) -> redis.Redis:
    """A client for the ``gatekeeper`` command and the runner."""
    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=5)
