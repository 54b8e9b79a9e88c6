"""The per-process watcher: one thread that keeps the state snapshot current.

It subscribes to ``<prefix>:events`` (and the keyspace notifications of the state and
info keys, which arrive only if the server enables them), re-reads the state on every
message, polls every ``poll_interval`` as a fallback, writes this process's heartbeat
report, and acknowledges a hold once the process has drained. Request code only ever
reads :attr:`StateWatcher.snapshot`, an attribute; it never waits on Redis.

When Redis is lost, the last known snapshot stays in force for ``stale_timeout`` seconds,
then ``fail_mode`` (open by default); it reconnects with capped, jittered backoff.

The thread starts lazily, in the process that serves requests (a thread started before a
pre-fork server forks would not exist in the workers); a forked child's copy starts afresh.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import random
import threading
import time
from collections.abc import Callable

import redis

from gatekeeper.core.modes import Mode, mode_hint
from gatekeeper.observe import Recorder
from gatekeeper.options import GateOptions
from gatekeeper.state._parking import LoopLots, ThreadLot, wait_done
from gatekeeper.state._redis import queued_messages, read_state, watcher_client
from gatekeeper.state._reporter import ProcessReporter
from gatekeeper.state._sentinel import primary_moved
from gatekeeper.state._watcher_log import WatcherLog
from gatekeeper.state._watcher_metrics import WatcherMetrics
from gatekeeper.state.keys import Keys
from gatekeeper.state.snapshot import Snapshot, keep_vanished, read_snapshot

__all__ = ["StateWatcher"]

_REPORT_TICK = 0.005
_MAX_WAIT = 0.25
_CONFIRM_DELAY = 0.005
"""Seconds from obeying a mode a message names to the re-read (then report) confirming it:
sooner, they compete for CPU and GIL with the first requests to obey (propagation.py)."""
_MAX_BACKOFF = 1.0
"""Seconds between reconnection attempts at most: a Sentinel or Cluster failover is over
in a second or two, and each second beyond it is one the new state does not reach us."""


class StateWatcher:
    """Keeps :attr:`snapshot` current for every gate of this process that shares it."""

    def __init__(
        self, options: GateOptions, on_close: Callable[[StateWatcher], None] | None = None
    ) -> None:
        self.options = options
        self.keys = Keys.for_url(options.prefix, options.redis_url)
        self._fail_mode = Mode.OPEN if options.fail_mode == "open" else Mode.MAINTENANCE
        self._on_close = on_close
        self.reset()

    def reset(self) -> None:
        """Start from nothing: at construction, and in a forked child, where nothing of
        the parent's thread, locks or counts carries over."""
        self.snapshot: Snapshot | None = None
        # counters.inside while the snapshot is plain, else None: the ASGI open path's read.
        self.open_inside: list[None] | None = None
        self.reporter = ProcessReporter(self.options.hostname, self.options.release)
        self.counters = self.reporter.counters
        self.proc_id = self.reporter.proc_id
        self.thread_lot = ThreadLot()
        self.ready = concurrent.futures.Future[Snapshot]()
        self.loop_lots = LoopLots()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_ok: float | None = None
        self._connected: bool | None = None
        self._log = WatcherLog(self.options.redis_url, self.keys.state, process=self.proc_id)
        self._vanished_at: float | None = None
        self._keyspace = True  # subscribe to the keyspace channels, until an ACL refuses
        self._metrics = WatcherMetrics(self.options.metrics)
        self.recorder: Recorder | None = None  # set as the thread starts; read by the gate

    # -- used by request code -------------------------------------------------------

    def start(self) -> None:
        """Start the thread if it is not running. Cheap after the first call."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="gatekeeper-watcher", daemon=True)
                thread.start()
                self._thread = thread

    def wait_ready(self) -> Snapshot:
        """Start if needed and block until the first read (bounded by the timeouts)."""
        self.start()
        try:
            return self.ready.result(timeout=self._startup_timeout)
        except concurrent.futures.TimeoutError:
            return self._fallback()

    async def wait_ready_async(self) -> Snapshot:
        """:meth:`wait_ready` for an event loop (its timeout cancels only this wait)."""
        self.start()
        await wait_done(self.ready, self._startup_timeout)
        return self.ready.result() if self.ready.done() else self._fallback()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread and withdraw this process's report (tests, clean shutdown)."""
        self._stop.set()
        if self._on_close is not None:
            self._on_close(self)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def _startup_timeout(self) -> float:
        return self.options.connect_timeout * 2 + 0.5

    # -- the thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.recorder = self._metrics.start()
        except Exception as exc:  # metrics must never stop the gate
            self._log.bug(exc)
        attempt = 0
        while not self._stop.is_set():
            try:
                self._session()
            except Exception as exc:  # the thread must outlive any error
                if self._on_failure(exc):
                    continue
                delay = min(_MAX_BACKOFF, 0.05 * 2**attempt) * random.uniform(0.8, 1.2)  # noqa: S311
                attempt = min(attempt + 1, 10)
                self._sleep_until_retry(delay)
            else:
                attempt = 0
        self.reporter.withdraw(self._client, self.keys, self.snapshot)

    def _client(self) -> redis.Redis:
        return watcher_client(self.options.redis_url, self.options.connect_timeout, self.keys.state)

    def _session(self) -> None:
        client = self._client()
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            db = int(client.connection_pool.connection_kwargs.get("db", 0) or 0)
            keyspace = self.keys.keyspace_channels(db) if self._keyspace else []
            pubsub.subscribe(self.keys.events, *keyspace)
            self._refresh(client, heartbeat=True)
            next_poll = time.monotonic() + self.options.poll_interval
            confirm_at: float | None = None  # the re-read due after obeying a named mode
            while not self._stop.is_set():
                # Capped so that close() is noticed quickly; an idle wake-up costs ~µs.
                due = min(next_poll, confirm_at or next_poll)
                wait = min(_MAX_WAIT, max(0.0, due - time.monotonic()))
                if self.reporter.wanted(self.snapshot):
                    wait = min(wait, _REPORT_TICK)
                message = pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
                if message is not None:
                    # A named mode is obeyed before the rest of a burst is read: that read
                    # lets go of the GIL, and took up to 1.8 ms to get it back (p99 under
                    # propagation.py). The last message rules: a mode is obeyed, re-read
                    # _CONFIRM_DELAY later (not put off by more hints); else one re-read.
                    hint = mode_hint(message, self.keys.events)
                    obeyed = self._obey(hint)
                    if rest := queued_messages(pubsub):
                        hint, obeyed = mode_hint(rest[-1], self.keys.events), False
                    if hint is not None and (obeyed or self._obey(hint)):
                        confirm_at = confirm_at or time.monotonic() + _CONFIRM_DELAY
                    else:
                        self._refresh(client, heartbeat=False)
                        confirm_at = None
                elif confirm_at is not None and time.monotonic() >= confirm_at:
                    self._refresh(client, heartbeat=False)
                    confirm_at = None
                elif time.monotonic() >= next_poll:
                    if primary_moved(client, pubsub.connection):
                        raise redis.ConnectionError("the sentinels name a new master")
                    self._refresh(client, heartbeat=True)
                    next_poll = time.monotonic() + self.options.poll_interval
                self._metrics.tick(self.counters)
                settled = confirm_at is None and self.reporter.wanted(self.snapshot)
                if settled and self.reporter.ready(self.snapshot):  # acks a read, not a hint
                    self._heartbeat(client)
        finally:
            for closer in (pubsub.close, client.close):
                with contextlib.suppress(Exception):  # closing a broken connection may fail
                    closer()

    def _refresh(self, client: redis.Redis, *, heartbeat: bool) -> None:
        raw_state, raw_info, raw_keepalive, raw_handoff = read_state(client, self.keys)
        snapshot, problems = read_snapshot(
            raw_state, raw_info, raw_keepalive, raw_handoff,
            unknown_mode=self._fail_mode, host=self.options.hostname,
            release=self.options.release, previous=self.snapshot, now=time.time(),
        )  # fmt: skip
        self._log.problems(problems)
        self._log.read_ok()
        now = self._last_ok = time.monotonic()
        self._metrics.confirmed()
        reconnected = self._connected is False
        if self._connected is not True:
            if reconnected:
                self._log.reachable_again()
            self._log.connected()  # once per process: its first successful read
            self._connected = True
            self._metrics.connected(True)
        if raw_state is not None or not (reconnected or self._vanished_at is not None):
            self._vanished_at = None
        elif keep_vanished(self.snapshot, now - (self._vanished_at or now)):
            if self._vanished_at is None:
                self._vanished_at = now
                self._log.vanished(self.snapshot)
            snapshot = self.snapshot or snapshot
        else:
            self._vanished_at = None
        self._publish(snapshot)
        if heartbeat:
            self._heartbeat(client)

    def _heartbeat(self, client: redis.Redis) -> None:
        self.reporter.send(client, self.keys, self.snapshot, self.options.poll_interval)

    # -- state changes --------------------------------------------------------------

    def _obey(self, mode: Mode | None) -> bool:
        if mode is None or self.snapshot is None:
            return False
        self._publish(dataclasses.replace(self.snapshot, mode=mode))
        return True

    def _publish(self, snapshot: Snapshot) -> None:
        previous = self.snapshot
        if snapshot == previous:
            return
        # Order matters: the snapshot is stored before waiters are woken (see _parking).
        self.snapshot = snapshot
        self.open_inside = self.counters.inside if snapshot.plain else None
        self.thread_lot.unpark_all()
        self.loop_lots.unpark_all_threadsafe()
        if not self.ready.done():
            self.ready.set_result(snapshot)
        if previous is None or previous.mode is not snapshot.mode:
            if snapshot.mode is not Mode.OPEN and (previous is None or previous.mode is Mode.OPEN):
                self.counters.new_hold_period()
            self.reporter.state_changed()
            self._metrics.state(snapshot.mode.value)
            self._log.state_changed(previous, snapshot)
        elif previous.closing is not snapshot.closing or previous.handoff is not snapshot.handoff:
            self.reporter.state_changed()  # a reload waits for this acknowledgement

    def _on_failure(self, exc: BaseException) -> bool:
        """Log and account for a failed session; ``True`` to retry at once."""
        if isinstance(exc, redis.exceptions.NoPermissionError) and self._keyspace:
            # An ACL (a managed service's, often) that allows the events channel but not
            # the keyspace ones: subscribe to the events channel alone, not flap forever.
            self._keyspace = False
            self._log.no_keyspace(exc)
            return True
        if not isinstance(exc, (redis.RedisError, OSError)):
            self._log.bug(exc)
        elif self._connected is not False:
            self._connected = False
            self._metrics.connected(False)
            kept = self.snapshot.mode.value if self.snapshot else None
            self._log.unreachable(exc, kept, self.options.stale_timeout, self._fail_mode.value)
        if self.snapshot is None:
            self._publish(self._fallback())
        self._check_stale()
        return False

    def _sleep_until_retry(self, delay: float) -> None:
        if self._last_ok is not None and not self._failed_over():
            left = self._last_ok + self.options.stale_timeout - time.monotonic()
            delay = max(0.0, min(delay, left))
        self._stop.wait(delay)
        self._metrics.tick(self.counters)
        self._check_stale()

    def _check_stale(self) -> None:
        if self.snapshot is None or self._failed_over():
            return
        last = self._last_ok or 0.0
        if time.monotonic() - last >= self.options.stale_timeout:
            self._log.failing(time.monotonic() - last, self.options.fail_mode)
            self._publish(Snapshot(self._fail_mode, source="unreachable"))

    def _failed_over(self) -> bool:
        return self.snapshot is not None and self.snapshot.source in ("unreachable", "startup")

    def _fallback(self) -> Snapshot:
        return self.snapshot or Snapshot(self._fail_mode, source="startup")
