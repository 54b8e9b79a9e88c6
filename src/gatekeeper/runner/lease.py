"""The runner's claim on the gate: its lock, and every write of the state during a run.

Both the lock and the state carry a TTL renewed by a heartbeat thread, so a runner that
dies (SIGKILL, lost host) holds the site for at most one TTL. During a run the lease makes
every write of the state itself (:meth:`HoldLease.write`), under the same lock its
renewal takes: a renewal therefore never sees the runner's own switch to ``maintenance``
half done and mistakes it for an operator's. Each write and each renewal is one Lua
script, so "is the state still ours?" and "change it" cannot be split by an operator's
``gatekeeper open`` either: an operator's state is never overwritten by the run.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, Literal

import redis
from redis.lock import Lock

from gatekeeper.core.modes import Mode
from gatekeeper.exceptions import LockBusy
from gatekeeper.state._sentinel import follow_primary
from gatekeeper.state.keys import Keys

__all__ = ["HoldLease", "LeaseEvent", "describe_event"]

_RETRY_AFTER = 0.2
"""Seconds between renewals while they fail: a failover (a new master elected in a second
or two) must not eat a third of the TTL before the first renewal on the new master."""

LeaseEvent = Literal["restored", "overridden", "lock-lost", "redis-error", "redis-ok"]
"""What the lease tells its runner through ``on_event(kind, detail)``."""

# Whether the state is still this run's: the mode it last wrote, and an info hash that is
# its own (``owner`` is the lease's token) or gone. An operator's ``gatekeeper hold`` in the
# middle of a run writes the same mode but its own owner: that is an override too.

# KEYS: state, info, events. ARGV: mode, ttl in ms, token, then the info hash as field,
# value... Returns "kept" (renewed), "restored" (Redis had lost it: set again and
# published), or the value an operator wrote meanwhile, which the runner then leaves alone.
_RENEW = """
local current = redis.call('GET', KEYS[1])
local owner = redis.call('HGET', KEYS[2], 'owner')
if current == ARGV[1] and (not owner or owner == ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 'kept'
elseif not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('DEL', KEYS[2])
  if #ARGV > 3 then
    redis.call('HSET', KEYS[2], unpack(ARGV, 4))
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
  end
  redis.call('PUBLISH', KEYS[3], ARGV[1])
  return 'restored'
end
return current
"""

# KEYS: state, info, events, handoff. ARGV: the mode this run last wrote ("" for the first
# write, which takes over whatever was there), the new mode, ttl in ms (0: none), token,
# the release a handoff names ("" for none) and its ttl in ms, then the info hash as
# field, value... Returns "written", or the operator's value it left alone. With a
# handoff the message is "handoff", not a mode: a gate must not act on "open" before its
# re-read has seen the handoff too, or an old process would run what it holds.
_WRITE = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] ~= '' and current then
  local owner = redis.call('HGET', KEYS[2], 'owner')
  if current ~= ARGV[1] or (owner and owner ~= ARGV[4]) then
    return current
  end
end
redis.call('DEL', KEYS[2])
if #ARGV > 6 then
  redis.call('HSET', KEYS[2], unpack(ARGV, 7))
end
if ARGV[3] ~= '0' then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[4], ARGV[5], 'PX', ARGV[6])
  redis.call('PUBLISH', KEYS[3], 'handoff')
else
  redis.call('PUBLISH', KEYS[3], ARGV[2])
end
return 'written'
"""


class HoldLease:
    """Owns the lock and the run's state; renews both every ``ttl / 3`` while started
    (every 0.2 s while renewals fail)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        token: str,
        ttl: float,
        on_event: Callable[[LeaseEvent, str], None],
    ) -> None:
        self.client = client
        self.keys = keys
        self.token = token
        self.ttl = ttl
        self.on_event = on_event
        self.overridden: str | None = None
        """The state an operator set during the run; the run leaves it alone from then."""
        # One tuple, replaced whole: a renewal reads mode and fields of the same write.
        self._tracked: tuple[Mode, dict[str, str]] | None = None
        self._guard = threading.Lock()  # every write and every renewal, one at a time
        self._stopped = False
        self._lock = Lock(client, keys.lock, timeout=ttl, thread_local=False)
        self._renew = client.register_script(_RENEW)
        self._write = client.register_script(_WRITE)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    @property
    def mode(self) -> Mode | None:
        """The mode this run last wrote (``None`` before its first write)."""
        tracked = self._tracked
        return tracked[0] if tracked else None

    def acquire(self) -> None:
        if self._lock.acquire(blocking=False, token=self.token):
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.keys.lock)
        pipe.pttl(self.keys.lock)
        holder, ttl_ms = pipe.execute()
        name = holder.decode("utf-8", "replace") if isinstance(holder, bytes) else str(holder)
        raise LockBusy(name, ttl_ms / 1000 if ttl_ms and ttl_ms > 0 else None)

    def write(
        self,
        mode: Mode,
        fields: dict[str, str],
        *,
        ttl: float | None,
        handoff: tuple[str, float] | None = None,
    ) -> bool:
        """Set the state (and a fresh info hash) and PUBLISH, unless an operator changed it.

        The first write of a run takes over whatever state was there; each later one
        happens only while Redis still holds this run's last mode (or nothing: lost with
        a restart). ``False`` when an operator's state was found instead: it is left in
        place and :attr:`overridden` names it. ``ttl=None`` writes a state that never
        expires: the run's final word. A non-empty info hash gets ``owner`` set to the
        lease's token: that is how its renewals tell its state from an operator's.
        ``handoff=(release, ttl)`` sets ``<prefix>:handoff`` in the same step.
        """
        if fields:
            fields = {**fields, "owner": self.token}  # how the run knows its own state
        with self._guard:
            if self.overridden is not None:
                return False
            follow_primary(self.client)
            expected = self._tracked[0].value if self._tracked else ""
            ttl_ms = int(ttl * 1000) if ttl else 0
            keys = [self.keys.state, self.keys.info, self.keys.events, self.keys.handoff]
            release, handoff_ttl = handoff or ("", 0.0)
            args = [
                expected, mode.value, ttl_ms, self.token, release,
                max(1, int(handoff_ttl * 1000)), *_flatten(fields),
            ]  # fmt: skip
            result = self._write(keys=keys, args=args)
            outcome = _text(result)
            if outcome != "written":
                self._override(outcome)
                return False
            self.track(mode, fields)
            return True

    def track(self, mode: Mode, fields: dict[str, str]) -> None:
        """The state the heartbeat keeps alive from now on (called by :meth:`write`)."""
        self._tracked = (mode, dict(fields))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="gatekeeper-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing. A renewal already under way finishes first; none writes after."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._guard:
            self._stopped = True

    def release(self) -> None:
        # Expired or taken over: then nothing of ours is left to delete.
        with contextlib.suppress(redis.exceptions.LockError):
            self._lock.release()

    def renew_once(self) -> None:
        with self._guard:
            if self._stopped:
                return
            follow_primary(self.client)  # a renewal must reach the master of now
            tracked = self._tracked
            if self.overridden is None and tracked is not None:
                mode, fields = tracked
                keys = [self.keys.state, self.keys.info, self.keys.events]
                ttl_ms = int(self.ttl * 1000)
                outcome = _text(
                    self._renew(keys=keys, args=[mode.value, ttl_ms, self.token, *_flatten(fields)])
                )
                if outcome == "restored":
                    self.on_event("restored", mode.value)
                elif outcome != "kept":
                    self._override(outcome)
            try:
                self._lock.reacquire()
            except redis.exceptions.LockNotOwnedError:
                # Lost with a Redis restart: take it back unless another runner has it now.
                if not self._lock.acquire(blocking=False, token=self.token):
                    self.on_event("lock-lost", "")

    def _override(self, value: str) -> None:
        self.overridden = value
        self.on_event("overridden", value)

    def _beat(self) -> None:
        while not self._stop.wait(_RETRY_AFTER if self._failing else self.ttl / 3):
            try:
                self.renew_once()
            except redis.RedisError as exc:
                if not self._failing:
                    self._failing = True
                    self.on_event("redis-error", exc.__class__.__name__)
            else:
                if self._failing:
                    self._failing = False
                    self.on_event("redis-ok", "")


def _flatten(fields: dict[str, str]) -> list[Any]:
    flat: list[Any] = []
    for name, value in fields.items():
        flat += [name, value]
    return flat


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def describe_event(kind: LeaseEvent, detail: str) -> str:
    """The runner's note for an ``on_event(kind, detail)`` of the lease."""
    messages: dict[LeaseEvent, str] = {
        "restored": f"Redis had lost the state: set {detail!r} again",
        "overridden": f"an operator set the state to {detail!r}: no longer renewing the hold",
        "lock-lost": "the lock was taken by someone else",
        "redis-error": f"heartbeat failed ({detail}); retrying",
        "redis-ok": "heartbeat reaches Redis again",
    }
    return messages[kind]
