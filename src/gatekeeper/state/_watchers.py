"""One watcher per process and Redis: shared by every gate, renewed after a fork."""

from __future__ import annotations

import atexit
import os
import threading

from gatekeeper.options import GateOptions
from gatekeeper.state.watcher import StateWatcher

__all__ = ["close_all", "forget", "keepalive_off", "start_all", "watcher_for"]

_watchers: dict[tuple[object, ...], StateWatcher] = {}
_every: tuple[StateWatcher, ...] = ()
"""``_watchers``' values, replaced whole under ``_lock``: read per request, never copied."""
_lock = threading.Lock()


def watcher_for(options: GateOptions) -> StateWatcher:
    """The process's watcher for these options' Redis and prefix (shared by all gates)."""
    key = (
        options.redis_url,
        options.prefix,
        options.poll_interval,
        options.stale_timeout,
        options.connect_timeout,
        options.fail_mode,
        options.release,
        options.hostname,
        options.metrics,
    )
    with _lock:
        watcher = _watchers.get(key)
        if watcher is None:
            watcher = _watchers[key] = StateWatcher(options, on_close=forget)
            _refresh_every()
        return watcher


def forget(watcher: StateWatcher) -> None:
    """Drop a closed watcher, so that a later gate gets a fresh one."""
    with _lock:
        for key, known in list(_watchers.items()):
            if known is watcher:
                del _watchers[key]
        _refresh_every()


def _refresh_every() -> None:
    global _every
    _every = tuple(_watchers.values())


def keepalive_off() -> bool:
    """Whether keep-alive is off for this process now: the server hooks of
    ``gatekeeper.contrib`` ask this for every request, so it reads attributes only."""
    for watcher in _every:
        snapshot = watcher.snapshot
        if snapshot is not None and snapshot.closing:
            return True
    return False


def start_all() -> None:
    """Start every watcher of this process now, not at its first request: a new worker
    then reports in as soon as it is up, which ``--await-release`` waits for."""
    for watcher in _every:
        watcher.start()


def close_all() -> None:
    """Stop every watcher of this process and withdraw its report, so that a reload sees
    an exiting process leave at once rather than when its report expires."""
    for watcher in _every:
        watcher.close()


def _after_fork_in_child() -> None:
    # The parent's thread does not exist here, and its lock may be held forever.
    global _lock
    _lock = threading.Lock()
    for watcher in _watchers.values():
        watcher.reset()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(close_all)
