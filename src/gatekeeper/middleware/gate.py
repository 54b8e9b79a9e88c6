"""The framework-free gate: decides, holds and builds replies for the adapters.

``wsgi.py``, ``asgi.py`` and ``contrib`` translate requests into :class:`RequestFacts`
and call into one :class:`Gate`. The open path is theirs to keep cheap: they read
:attr:`Gate.watcher.snapshot` and call the app when the mode is ``open``; everything
here runs only when the gate is not open.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from gatekeeper.core.bypass import make_token
from gatekeeper.core.decision import (
    EXEMPT_REASONS,
    HANDOFF,
    PASS_OPEN,
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
from gatekeeper.core.outcomes import DISCONNECTED, TIMED_OUT, hold_outcome
from gatekeeper.core.responses import Reply, bypass_granted, unavailable
from gatekeeper.middleware._write_cap import write_hold_cap
from gatekeeper.options import GateOptions, build_options
from gatekeeper.state._parking import Spawn
from gatekeeper.state._watchers import watcher_for
from gatekeeper.state.snapshot import Snapshot
from gatekeeper.state.watcher import StateWatcher

__all__ = ["DISCONNECTED", "TIMED_OUT", "DisconnectWatch", "Gate", "Outcome"]


class DisconnectWatch(Protocol):
    """Tells a held request that its client went away (the ASGI read-ahead does)."""

    @property
    def gone(self) -> bool: ...

    def start(self, on_gone: Callable[[], None], spawn: Spawn) -> None:
        """Begin watching; ``spawn`` runs a ``receive()`` beside the held request on the
        running loop's library (:meth:`gatekeeper.state._parking.Lot.spawn`)."""


_GRANT = Verdict(Decision.PASS, Reason.BYPASS_GRANTED)
_CAPACITY = Verdict(Decision.REJECT, Reason.CAPACITY)
_WRITES_BUSY = Verdict(Decision.REJECT, Reason.WRITE_CAPACITY)
_EXEMPT = tuple(EXEMPT_REASONS)
"""Searched by identity (a tuple): the frozenset would call ``Enum.__hash__``, Python code."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an adapter does: call the app (``reply is None``) or send ``reply``."""

    verdict: Verdict
    reply: Reply | None = None
    counted: bool = field(init=False, repr=False, compare=False)
    """Whether the request counts toward the drain while it is in the app."""

    def __post_init__(self) -> None:
        # Computed once, here: the adapters ask it of every request that passed.
        exempt = self.verdict.reason in _EXEMPT
        object.__setattr__(self, "counted", self.reply is None and not exempt)


_PASSED_OPEN = Outcome(PASS_OPEN)
"""The outcome of every request that passes because the gate opened: made once."""


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
        watcher = self.watcher
        if not watcher.counters.hold_begin(self.options.max_held, write_cap):
            if watcher.recorder is not None:
                watcher.recorder.hold_refused()
            return self._finish(_CAPACITY if write_cap is None else _WRITES_BUSY, facts)
        if watcher.recorder is not None:
            watcher.recorder.hold_began()
        verdict = TIMED_OUT
        lot = watcher.thread_lot
        try:
            while True:
                ticket = lot.ticket()
                snapshot = watcher.snapshot or snapshot
                if snapshot.plain:
                    # What decide() says of any request under a plain snapshot, said at
                    # once: it is what every held thread wakes to at a release.
                    verdict = PASS_OPEN
                    break
                verdict, left = self._step(snapshot, facts, now, pace=False)
                if left <= 0:
                    break
                ticket.wait(left)
        finally:
            self._end_hold(verdict, now, write=write_cap is not None)
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
        outcome = self.begin_hold(snapshot, facts, now)
        if outcome is not None:
            return outcome
        lot = self.watcher.loop_lots.for_running_loop()
        spot = lot.spot()
        if watch is not None:
            watch.start(spot.unpark, lot.spawn)
        # The ASGI middleware runs this loop in its own frame: change both alike.
        verdict = TIMED_OUT
        try:
            while True:
                snapshot = self.watcher.snapshot or snapshot
                verdict, left = self.hold_step(snapshot, facts, now)
                if left <= 0:
                    break
                if watch is not None and watch.gone:
                    verdict = DISCONNECTED
                    break
                await spot.wait(left)
        finally:
            spot.leave()
            outcome = self.end_hold(verdict, facts, now)  # counted out even if cancelled
        return outcome

    # The hold of screen_async in steps, for a caller that waits in a frame of its own (the
    # ASGI middleware: a coroutine less per held request, a level less to resume at the
    # release). Each step is sync: the waiting between them is the caller's.

    def begin_hold(self, snapshot: Snapshot, facts: RequestFacts, now: float) -> Outcome | None:
        """The outcome at once, or ``None``: a hold has begun (and is counted), to be
        waited out with :meth:`hold_step` and ended with :meth:`end_hold`."""
        first = self._first_look(snapshot, facts, now)
        paced = first is HANDOFF and self.options.handoff_delay > 0
        if first.decision is not Decision.HOLD and not paced:
            return self._finish(first, facts)
        recorder = self.watcher.recorder
        if not self.watcher.counters.hold_begin(self.options.max_held):
            if recorder is not None and first is not HANDOFF:
                recorder.hold_refused()
            return self._finish(HANDOFF if first is HANDOFF else _CAPACITY, facts)
        if recorder is not None:
            recorder.hold_began()
        return None

    def hold_step(
        self, snapshot: Snapshot, facts: RequestFacts, started: float
    ) -> tuple[Verdict, float]:
        """The verdict under ``snapshot`` and how long to wait for another (``<= 0``:
        end the hold with it), for a request held since ``started``."""
        if snapshot.plain:
            # What decide() says of any request under a plain snapshot, said at once: it
            # is what every held request wakes to at a release.
            return PASS_OPEN, 0.0
        return self._step(snapshot, facts, started, pace=True)

    def end_hold(self, verdict: Verdict, facts: RequestFacts, started: float) -> Outcome:
        """Count out the hold begun at ``started`` and give its outcome (call it even if
        the wait failed: a hold cancelled mid-wait still has its ``hold`` verdict, and
        counts as given up by its client, which is why servers cancel a request)."""
        if verdict is PASS_OPEN:
            waited = time.time() - started
            self.watcher.counters.hold_released(waited)
            if self.watcher.recorder is not None:
                self.watcher.recorder.hold_ended("released", waited)
            return _PASSED_OPEN
        self._end_hold(verdict, started)
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
        return (verdict, left) if left > 0 else (TIMED_OUT, 0.0)

    def _end_hold(self, verdict: Verdict, started: float, write: bool = False) -> None:
        waited = time.time() - started
        outcome = hold_outcome(verdict)
        if outcome == "released" and not write:
            self.watcher.counters.hold_released(waited)
        else:
            self.watcher.counters.hold_end(
                released=outcome == "released",
                timed_out=outcome == "timeout",
                write=write,
                handed_off=outcome == "handed_off",
                gone=outcome == "client_gone",
                waited=waited,
            )
        if self.watcher.recorder is not None:
            self.watcher.recorder.hold_ended(outcome, waited)

    def _finish(self, verdict: Verdict, facts: RequestFacts, *, held: bool = False) -> Outcome:
        if verdict is _GRANT:
            secret = self.options.bypass_secret or ""
            token = make_token(secret, time.time(), self.options.bypass_max_age)
            return Outcome(verdict, bypass_granted(token, self.options, secure=facts.secure))
        if verdict is PASS_OPEN:
            return _PASSED_OPEN
        if verdict.decision is Decision.PASS:
            return Outcome(verdict)
        recorder = self.watcher.recorder
        if verdict is HANDOFF:
            if not held:
                self.watcher.counters.handed_off()
            if recorder is not None:
                recorder.handed_off()
            reply = handoff_reply(
                facts.target, method=facts.method, path=facts.path, options=self.options
            )
            return Outcome(verdict, reply)
        if not held:
            self.watcher.counters.rejected()  # a hold's end was counted by _end_hold
        # A hold whose client left (or was cancelled, its HOLD verdict kept) gets no 503.
        gone = verdict is DISCONNECTED or verdict.decision is not Decision.REJECT
        if recorder is not None and not gone:
            recorder.rejected(verdict.reason.value)
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
