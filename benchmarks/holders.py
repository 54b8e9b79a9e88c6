"""What holds the requests in a release round: the gate, or the bare-event floor app.

Both expose the same three operations to the runner:

- ``arm(processes)``: make sure every serving process is ready to hold (the gate: state
  ``hold`` set and every process's heartbeat report saying ``hold``; the floor: every
  process's listener subscribed, which re-arms by itself after each release);
- ``held()``: how many requests are waiting right now, from the processes' reports in
  Redis (the gate's heartbeat; the floor's own ``floor-held`` keys);
- ``release()``: the release, returning ``time.perf_counter()`` taken just before the
  ``PUBLISH`` is sent. For the gate it is what ``gatekeeper open`` does
  (``gatekeeper.state.store.set_open``: ``SET open``, ``DEL info`` and ``PUBLISH`` in one
  ``MULTI`` round trip), or, without the CLI, ``DEL <prefix>:state`` then
  ``PUBLISH <prefix>:events x`` as with ``redis-cli``; for the floor a bare
  ``PUBLISH <prefix>:floor x``.
"""

from __future__ import annotations

import time
import uuid

import redis

from benchmarks.redisinfo import floor_held, floor_processes, gate_held, gate_reports, wait_until
from gatekeeper.core.modes import Mode
from gatekeeper.state.keys import Keys

try:  # the operator CLI's own writes, where the CLI exists
    from gatekeeper.state.store import info_fields, set_mode, set_open
except ImportError:  # pragma: no cover - before the CLI landed
    set_open = set_mode = info_fields = None  # type: ignore[assignment]

__all__ = ["HOLD_ENV", "RELEASE_VIA", "Holder"]

RELEASE_VIA = (
    "gatekeeper.state.store.set_open (as `gatekeeper open`)"
    if set_open is not None
    else "DEL <prefix>:state + PUBLISH <prefix>:events x"
)

# Held requests must not hit the cap or the deadline while a round is set up. The poll
# interval only paces the heartbeats the runner reads to know all requests are held;
# the release itself always goes through pub/sub.
HOLD_ENV = {
    "GATEKEEPER_MAX_HELD": "20000",
    "GATEKEEPER_HOLD_TIMEOUT": "300",
    "GATEKEEPER_POLL_INTERVAL": "0.25",
}


class Holder:
    def __init__(self, client: redis.Redis, kind: str, prefix: str) -> None:
        if kind not in ("gate", "floor"):
            raise ValueError(kind)
        self.client = client
        self.kind = kind
        self.prefix = prefix
        self.keys = Keys(prefix)

    @property
    def app(self) -> str:
        """The app module path for a server of this kind (ASGI)."""
        if self.kind == "gate":
            return "benchmarks.apps.asgi_hello:app"
        return "benchmarks.apps.floor_asgi:app"

    @property
    def wsgi_app(self) -> str:
        if self.kind == "gate":
            return "benchmarks.apps.wsgi_hello:app"
        return "benchmarks.apps.floor_wsgi:app"

    def prepare(self) -> None:
        """Before the server starts: the gate starts in ``hold``."""
        if self.kind == "gate":
            self.client.set(self.keys.state, "hold")

    def arm(self, processes: int, timeout: float = 15.0) -> None:
        """Wait until ``processes`` processes hold new requests and report none held."""
        if self.kind == "gate":
            if self.client.get(self.keys.state) != b"hold":
                self.hold()

            def ready() -> bool:
                reports = gate_reports(self.client, self.prefix)
                return (
                    len(reports) >= processes
                    and all(r["mode"] == "hold" for r in reports)
                    and sum(int(r.get("held", 0)) for r in reports) == 0
                )

            wait_until(ready, timeout, f"{processes} gate processes in hold, none held")
        else:
            wait_until(
                lambda: floor_processes(self.client, self.prefix) >= processes and self.held() == 0,
                timeout,
                f"{processes} floor processes listening, none held",
            )

    def hold(self) -> None:
        """Put the gate in hold as ``gatekeeper hold`` does (fresh generation each time)."""
        if set_mode is not None and info_fields is not None:
            fields = info_fields(generation=uuid.uuid4().hex[:12], owner="benchmarks")
            set_mode(self.client, self.keys, Mode.HOLD, fields)
        else:
            self.client.set(self.keys.state, "hold")
            self.client.publish(self.keys.events, "x")

    def held(self) -> int:
        if self.kind == "gate":
            return gate_held(self.client, self.prefix)
        return floor_held(self.client, self.prefix)

    def release(self) -> float:
        if self.kind == "gate":
            if set_open is not None:
                started = time.perf_counter()
                set_open(self.client, self.keys)
                return started
            self.client.delete(self.keys.state)
            started = time.perf_counter()
            self.client.publish(self.keys.events, "x")
            return started
        started = time.perf_counter()
        self.client.publish(f"{self.prefix}:floor", "x")
        return started
