"""The runner's claim on the gate: its lock and the TTL of the state it set, renewed together.

Both expire on their own if the runner dies (SIGKILL, lost host), so a crashed deploy
holds the site for at most one TTL. The renewal is one Lua script so that "is the state
still ours?" and "extend it" cannot be split by an operator's ``gatekeeper open``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import redis
from redis.lock import Lock

from gatekeeper.keys import Keys
from gatekeeper.modes import Mode

__all__ = ["HoldLease", "LockBusy"]

# KEYS: state, info, events. ARGV: mode, ttl in ms, then the info hash as field, value...
# Returns "kept" (renewed), "restored" (Redis had lost it: set again and published), or
# the value an operator wrote meanwhile, which the runner then leaves alone.
_RENEW = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 'kept'
elseif not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('DEL', KEYS[2])
  if #ARGV > 2 then
    redis.call('HSET', KEYS[2], unpack(ARGV, 3))
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
  end
  redis.call('PUBLISH', KEYS[3], ARGV[1])
  return 'restored'
end
return current
"""


class LockBusy(Exception):
    """Another runner holds the lock; ``holder`` names it."""

    def __init__(self, holder: str, ttl: float | None) -> None:
        super().__init__(holder)
        self.holder = holder
        self.ttl = ttl


class HoldLease:
    """Owns the lock, and renews the state while :meth:`start`-ed, every ``ttl / 3``."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        token: str,
        ttl: float,
        on_event: Callable[[str, str], None],
    ) -> None:
        self.client = client
        self.keys = keys
        self.token = token
        self.ttl = ttl
        self.on_event = on_event
        self.mode: Mode | None = None
        self.fields: dict[str, str] = {}
        self.overridden: str | None = None
        self._lock = Lock(client, keys.lock, timeout=ttl, thread_local=False)
        self._renew = client.register_script(_RENEW)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def acquire(self) -> None:
        if self._lock.acquire(blocking=False, token=self.token):
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.keys.lock)
        pipe.pttl(self.keys.lock)
        holder, ttl_ms = pipe.execute()
        name = holder.decode("utf-8", "replace") if isinstance(holder, bytes) else str(holder)
        raise LockBusy(name, ttl_ms / 1000 if ttl_ms and ttl_ms > 0 else None)

    def track(self, mode: Mode, fields: dict[str, str]) -> None:
        """The state the heartbeat keeps alive from now on."""
        self.mode = mode
        self.fields = dict(fields)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="gatekeeper-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def release(self) -> None:
        # Expired or taken over: then nothing of ours is left to delete.
        with contextlib.suppress(redis.exceptions.LockError):
            self._lock.release()

    def renew_once(self) -> str:
        flat: list[Any] = []
        for name, value in self.fields.items():
            flat += [name, value]
        ttl_ms = int(self.ttl * 1000)
        keys = [self.keys.state, self.keys.info, self.keys.events]
        if self.overridden is None and self.mode is not None:
            result = self._renew(keys=keys, args=[self.mode.value, ttl_ms, *flat])
            outcome = result.decode() if isinstance(result, bytes) else str(result)
            if outcome == "restored":
                self.on_event("restored", self.mode.value)
            elif outcome != "kept":
                self.overridden = outcome
                self.on_event("overridden", outcome)
        try:
            self._lock.reacquire()
        except redis.exceptions.LockNotOwnedError:
            # Lost with a Redis restart: take it back unless another runner has it now.
            if not self._lock.acquire(blocking=False, token=self.token):
                self.on_event("lock-lost", "")
        return "ok"

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
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
