"""The framework-free gate: decides, holds and builds replies for the adapters.

``wsgi.py``, ``asgi.py`` and ``contrib`` translate requests into :class:`RequestFacts`
and call into one :class:`Gate`. The open path is theirs to keep cheap: they read
:attr:`Gate.watcher.snapshot` and call the app when the mode is ``open``; everything
here runs only when the gate is not open.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gatekeeper.core.bypass import make_token
from gatekeeper.core.decision import (
    EXEMPT_REASONS,
    HANDOFF,
    Decision,
    Reason,
    RequestFacts,
    Verdict,
    decide,
    hold_deadline,
    is_bypass_visit,
)
from gatekeeper.core.handoff import handoff_reply
from gatekeeper.core.modes import Mode
from gatekeeper.core.responses import Reply, bypass_granted, unavailable
from gatekeeper.middleware._write_cap import write_hold_cap
from gatekeeper.options import GateOptions, build_options
from gatekeeper.state._parking import Spawn
from gatekeeper.state._watchers import watcher_for
from gatekeeper.state.snapshot import Snapshot
from gatekeeper.state.watcher import StateWatcher

__all__ = ["DisconnectWatch", "Gate", "Outcome"]


class DisconnectWatch(Protocol):
    """Tells a held request that its client went away (the ASGI read-ahead does)."""

    @property
    def gone(self) -> bool: ...

    def start(self, on_gone: Callable[[], None], spawn: Spawn) -> None:
        """Begin watching; ``spawn`` runs a ``receive()`` beside the held request on the
        running loop's library (:meth:`gatekeeper.state._parking.Lot.spawn`)."""


_GRANT = Verdict(Decision.PASS, Reason.BYPASS_GRANTED)
_CAPACITY = Verdict(Decision.REJECT, Reason.CAPACITY)
_TIMEOUT = Verdict(Decision.REJECT, Reason.HOLD_TIMEOUT)
_WRITES_BUSY = Verdict(Decision.REJECT, Reason.WRITE_CAPACITY)
DISCONNECTED = Verdict(Decision.REJECT, Reason.DISCONNECTED)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an adapter does: call the app (``reply is None``) or send ``reply``."""

    verdict: Verdict
    reply: Reply | None = None

    @property
    def counted(self) -> bool:
        """Whether the request counts toward the drain while it is in the app."""
        return self.reply is None and self.verdict.reason not in EXEMPT_REASONS


class Gate:
    """One configured gate; cheap to create, the watcher is shared per process."""

    def __init__(self, options: GateOptions | Mapping[str, object] | None = None) -> None:
        if not isinstance(options, GateOptions):
            options = build_options(options)
        self.options = options
        self.watcher: StateWatcher = watcher_for(options)

    # -- sync ----------------------------------------------------------------------

    def screen(self, facts: RequestFacts) -> Outcome:
        """Decide a request that arrived while the gate was not open, holding if needed."""
        now = time.time()
        snapshot = self.watcher.snapshot or self.watcher.wait_ready()
        first = self._first_look(snapshot, facts, now)
        if first.decision is not Decision.HOLD:
            # A handoff is never paced here: the old WSGI servers stop accepting when
            # restarted, and what reaches this thread was queued before; pacing it would
            # only slow down the draining of that queue.
            return self._finish(first, facts)
        # A held request holds a thread here: under readonly, writes may take only part
        # of them, so that reads keep flowing.
        readonly = first.reason is Reason.READONLY
        write_cap = write_hold_cap(self.options.max_held_writes) if readonly else None
        if not self.watcher.counters.hold_begin(self.options.max_held, write_cap):
            return self._finish(_CAPACITY if write_cap is None else _WRITES_BUSY, facts)
        verdict = _TIMEOUT
        try:
            while True:
                ticket = self.watcher.thread_lot.ticket()
                snapshot = self.watcher.snapshot or snapshot
                verdict, left = self._step(snapshot, facts, now, pace=False)
                if left <= 0:
                    break
                ticket.wait(left)
        finally:
            self._end_hold(verdict, write=write_cap is not None)
        return self._finish(verdict, facts, held=True)

    # -- async ---------------------------------------------------------------------

    async def screen_async(
        self, facts: RequestFacts, watch: DisconnectWatch | None = None
    ) -> Outcome:
        """:meth:`screen` for an event loop.

        ``watch``, if given, is started when a hold begins and calls back when the client
        goes away: the hold then ends at once with the ``disconnected`` verdict.
        """
        now = time.time()
        snapshot = self.watcher.snapshot or await self.watcher.wait_ready_async()
        first = self._first_look(snapshot, facts, now)
        paced = first is HANDOFF and self.options.handoff_delay > 0
        if first.decision is not Decision.HOLD and not paced:
            return self._finish(first, facts)
        if not self.watcher.counters.hold_begin(self.options.max_held):
            return self._finish(HANDOFF if first is HANDOFF else _CAPACITY, facts)
        lot = self.watcher.loop_lot()
        spot = lot.spot()
        if watch is not None:
            watch.start(spot.unpark, lot.spawn)
        verdict = _TIMEOUT
        try:
            while True:
                snapshot = self.watcher.snapshot or snapshot
                verdict, left = self._step(snapshot, facts, now, pace=True)
                if left <= 0:
                    break
                if watch is not None and watch.gone:
                    verdict = DISCONNECTED
                    break
                await spot.park(left)
        finally:
            self._end_hold(verdict)
        return self._finish(verdict, facts, held=True)

    # -- shared --------------------------------------------------------------------

    def _first_look(self, snapshot: Snapshot, facts: RequestFacts, now: float) -> Verdict:
        if snapshot.mode is not Mode.OPEN and is_bypass_visit(facts.path, self.options):
            return _GRANT
        return self._decide(snapshot, facts, now)

    def _decide(self, snapshot: Snapshot, facts: RequestFacts, now: float) -> Verdict:
        return decide(
            snapshot.mode, facts, self.options, now,
            closing=snapshot.closing, handoff=snapshot.handoff,
        )  # fmt: skip

    def _step(
        self, snapshot: Snapshot, facts: RequestFacts, started: float, *, pace: bool
    ) -> tuple[Verdict, float]:
        """The verdict now, and how long to wait for another (``<= 0``: act on this one).

        ``pace`` (ASGI): a handoff is answered ``handoff_delay`` after the later of the
        request's arrival and the moment this process learned of the handoff. An
        old process is still accepting then (uvicorn retires its workers one by one,
        each a moment after its replacement is up), and a redirect sent at once could
        land on it again, or be cut off as it closes: the pause lets it stop accepting
        first. Not under WSGI: what reaches a thread there was queued in the server
        before, and the old WSGI servers stop accepting as they are restarted.
        """
        now = time.time()
        verdict = self._decide(snapshot, facts, now)
        if verdict is HANDOFF:
            if not pace or self.options.handoff_delay <= 0:
                return verdict, 0.0
            learned = snapshot.handoff_at if snapshot.handoff_at is not None else now
            return verdict, max(started, learned) + self.options.handoff_delay - now
        if verdict.decision is not Decision.HOLD:
            return verdict, 0.0
        left = hold_deadline(started, snapshot.hold_until, self.options) - now
        return (verdict, left) if left > 0 else (_TIMEOUT, 0.0)

    def _end_hold(self, verdict: Verdict, write: bool = False) -> None:
        self.watcher.counters.hold_end(
            released=verdict.decision is Decision.PASS,
            timed_out=verdict is _TIMEOUT,
            write=write,
            handed_off=verdict is HANDOFF,
        )

    def _finish(self, verdict: Verdict, facts: RequestFacts, *, held: bool = False) -> Outcome:
        if verdict is _GRANT:
            secret = self.options.bypass_secret or ""
            token = make_token(secret, time.time(), self.options.bypass_max_age)
            return Outcome(verdict, bypass_granted(token, self.options, secure=facts.secure))
        if verdict.decision is Decision.PASS:
            return Outcome(verdict)
        if verdict is HANDOFF:
            if not held:
                self.watcher.counters.handed_off()
            reply = handoff_reply(
                facts.target, method=facts.method, path=facts.path, options=self.options
            )
            return Outcome(verdict, reply)
        if not held:
            self.watcher.counters.rejected()  # a hold's end was counted by _end_hold
        snapshot = self.watcher.snapshot or Snapshot(Mode.OPEN, source="startup")
        reply = unavailable(
            snapshot,
            reason=verdict.reason,
            options=self.options,
            method=facts.method,
            path=facts.path,
            accept=facts.accept,
        )
        return Outcome(verdict, reply)
