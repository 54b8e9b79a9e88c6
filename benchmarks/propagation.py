"""3. Propagation: from a state change in Redis to every process obeying it.

Four gated uvicorn processes (``asgi_hello``, one worker each, each on its own port so
that each can be probed directly; each has its own watcher, like the workers of one
server) share one prefix. Obeying is measured with HTTP probes, not heartbeats: one
keep-alive connection per process sends ``GET /`` back to back and records when each
response arrived and its status. A trial switches the state between ``open`` and
``maintenance`` (alternately); a process has obeyed at the first response with the new
status (200 or 503) after the switch, and the trial's figure is the slowest of the four.
Times run from just before the ``SET``/``DEL``. The probe's error is at most one round
trip (``probe_rtt_ms``).

Paths: ``SET``/``DEL`` then ``PUBLISH <prefix>:events`` (the documented path), and the
bare write without ``PUBLISH`` (heard by the 1 s poll; keyspace notifications are off
in the benchmark's Redis, as on a default server). Probe modes: ``idle`` (probes paused
before the switch and resumed just after it) and ``busy`` (probes never pause, so each
process is serving requests when the change arrives).

The floor: four ``floor_asgi`` processes whose listener sets a flag straight from the
message (``PUBLISH <prefix>:floor close|open``), probed on ``/probe``: what obeying a
PUBLISH costs with no Redis read at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

from benchmarks import servers
from benchmarks.config import Context
from benchmarks.stats import median, ratio, summarize
from gatekeeper.state.keys import Keys

__all__ = ["run"]

PROCESSES = 4
TRIAL_TIMEOUT = 5.0
BLOCKS = 2
KEEP_ALIVE = ("--timeout-keep-alive", "120")  # paused probes keep their connections


class Probe:
    """Back-to-back keep-alive GETs to one process; ``seen`` holds (time, status)."""

    def __init__(self, port: int, path: str) -> None:
        self.port = port
        self.request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        self.seen: list[tuple[float, int]] = []
        self.stop = False
        self.reconnects = 0
        self.go = asyncio.Event()

    async def run(self) -> None:
        """Probe while ``go`` is set; reconnect when the server closed an idle connection."""
        while not self.stop:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.reconnects += 1
                await asyncio.sleep(0.01)
                continue
            try:
                await self._loop(reader, writer)
            except (OSError, asyncio.IncompleteReadError):
                self.reconnects += 1
            finally:
                writer.close()

    async def _loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await self.go.wait()
            if self.stop:
                return
            writer.write(self.request)
            head = await reader.readuntil(b"\r\n\r\n")
            arrived = time.perf_counter()
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            self.seen.append((arrived, int(head.split(b" ", 2)[1])))

    def obeyed_at(self, since: float, status: int) -> float | None:
        """Arrival of the first of the responses since ``since`` that all have ``status``
        up to now; ``None`` while the latest response still has another status."""
        first = None
        for arrived, got in reversed(self.seen):
            if arrived < since or got != status:
                break
            first = arrived
        return first


class Group:
    """Four processes of one kind and their probes."""

    def __init__(self, ctx: Context, kind: str, ports: list[int], prefix: str) -> None:
        self.ctx = ctx
        self.kind = kind
        self.keys = Keys(prefix)
        self.probes = [Probe(port, "/" if kind == "gate" else "/probe") for port in ports]

    def switch(self, close: bool, publish: bool) -> None:
        client = self.ctx.client
        if self.kind == "floor":
            client.publish(f"{self.keys.prefix}:floor", "close" if close else "open")
            return
        if close:
            client.set(self.keys.state, "maintenance")
        else:
            client.delete(self.keys.state)
        if publish:
            client.publish(self.keys.events, "x")

    def resume(self) -> None:
        for probe in self.probes:
            probe.go.set()

    def pause(self) -> None:
        for probe in self.probes:
            probe.go.clear()

    async def trial(self, close: bool, publish: bool, idle: bool) -> float:
        """One switch; milliseconds until the slowest process obeyed it."""
        status = 503 if close else 200
        await asyncio.sleep(random.uniform(0.02, 0.05))  # no phase lock with anything
        started = time.perf_counter()
        self.switch(close, publish)
        if idle:
            self.resume()
        deadline = started + TRIAL_TIMEOUT
        try:
            while True:
                times = [probe.obeyed_at(started, status) for probe in self.probes]
                if all(t is not None for t in times):
                    return (max(t for t in times if t is not None) - started) * 1000
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"not every {self.kind} process obeyed in {TRIAL_TIMEOUT}s")
                await asyncio.sleep(0.0005)
        finally:
            if idle:
                self.pause()

    async def series(self, count: int, publish: bool, idle: bool) -> list[float]:
        """``count`` trials (even, so the state ends open), probes running if not idle."""
        if not idle:
            self.resume()
            await asyncio.sleep(0.1)
        out = [await self.trial(n % 2 == 0, publish, idle) for n in range(count)]
        self.pause()
        await asyncio.sleep(0.01)
        return out


async def _measure(ctx: Context, groups: dict[str, Group]) -> dict[str, dict[str, list[float]]]:
    s = ctx.settings
    tasks = [asyncio.ensure_future(p.run()) for g in groups.values() for p in g.probes]
    out: dict[str, dict[str, list[float]]] = {kind: {} for kind in groups}
    per_block = max(2, s.publish_trials // BLOCKS // 2 * 2)
    try:
        for block in range(BLOCKS):
            for kind in ("gate", "floor") if block % 2 == 0 else ("floor", "gate"):
                for mode in ("idle", "busy"):
                    got = await groups[kind].series(per_block, True, mode == "idle")
                    out[kind].setdefault(f"publish_{mode}", []).extend(got)
        bare = await groups["gate"].series(max(2, s.set_trials // 2 * 2), False, False)
        out["gate"]["bare_set"] = bare
    finally:
        for group in groups.values():
            for probe in group.probes:
                probe.stop = True
            group.resume()
        await asyncio.gather(*tasks, return_exceptions=True)
    return out


def _rtt_ms(groups: dict[str, Group]) -> float:
    gaps = [
        b[0] - a[0]
        for g in groups.values()
        for p in g.probes
        for a, b in zip(p.seen, p.seen[1:], strict=False)
    ]
    return (median(gaps) or 0.0) * 1000


def run(ctx: Context) -> dict[str, Any]:
    s = ctx.settings
    ctx.log(
        f"propagation: {PROCESSES} uvicorn processes per kind, ~{s.publish_trials} PUBLISH "
        f"trials per mode, {s.set_trials} bare SET trials"
    )
    with contextlib.ExitStack() as stack:
        groups: dict[str, Group] = {}
        for kind, app in (("gate", "asgi_hello"), ("floor", "floor_asgi")):
            prefix = ctx.prefix(f"propagation-{kind}")
            env = ctx.env(prefix, "gate")
            started = [
                stack.enter_context(
                    servers.uvicorn(
                        f"{kind}-{i}", f"benchmarks.apps.{app}:app", env, extra=KEEP_ALIVE
                    )
                )
                for i in range(PROCESSES)
            ]
            groups[kind] = Group(ctx, kind, [server.port for server in started], prefix)
        measured = asyncio.run(_measure(ctx, groups))
    out: dict[str, Any] = {
        "processes": PROCESSES,
        "poll_interval_ms": 1000.0,
        "obeyed_via": "HTTP probes (one keep-alive connection per process)",
        "probe_rtt_ms": _rtt_ms(groups),
        "probe_reconnects": sum(p.reconnects for g in groups.values() for p in g.probes),
        "trials": measured,
    }
    for kind, series in measured.items():
        out[kind] = {name: summarize(values) for name, values in series.items()}
    for mode in ("publish_idle", "publish_busy"):
        gate, floor = out["gate"][mode], out["floor"][mode]
        out["gate"][mode]["ratio_p99"] = ratio(gate["p99"], floor["p99"])
    g, f = out["gate"], out["floor"]
    ctx.log(
        f"  PUBLISH p99 idle gate {g['publish_idle']['p99']:.2f} / floor "
        f"{f['publish_idle']['p99']:.2f} ms, busy gate {g['publish_busy']['p99']:.2f} / floor "
        f"{f['publish_busy']['p99']:.2f} ms; bare SET max {g['bare_set']['max']:.0f} ms"
    )
    return out
