"""3. Propagation: from a state change in Redis to every process obeying it.

Four gated uvicorn processes (``asgi_hello``, one worker each, each on its own port so
that each can be probed directly; each has its own watcher, like the workers of one
server) share one prefix. Obeying is measured with HTTP probes, not heartbeats: one
keep-alive connection per process sends ``GET /`` back to back and records when each
response arrived and its status. A trial switches the state between ``open`` and
``maintenance`` (alternately); a process has obeyed at the first response with the new
status (200 or 503) after the switch, and the trial's figure is the slowest of the four.
Times run from just before the write (the ``MULTI``, or the ``SET``/``DEL``). The
probe's error is at most one round trip (``probe_rtt_ms``).

Paths: the writes of ``gatekeeper maintenance`` / ``gatekeeper open`` themselves
(``store.set_mode`` / ``set_open``: one ``MULTI`` that sets the state and ``PUBLISH``es
the new mode's name on ``<prefix>:events``, one round trip like the floor's ``PUBLISH``):
the watcher obeys the name at once and confirms it by a re-read (``publish_*``,
like-for-like with the floor, and what the targets judge); ``SET``/``DEL`` then a
separate ``PUBLISH ... x``, a message that names no mode, so the watcher obeys only after
its re-read, a pipeline of four reads (``publish_x_*``, reported: what a script that
publishes anything else gets); and the bare write without ``PUBLISH`` (heard by the 1 s
poll; keyspace notifications are off in the benchmark's Redis, as on a default server).
Probe modes: ``idle`` (probes paused before the switch and resumed just after it) and
``busy`` (probes never pause, so each process is serving requests when the change
arrives).

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
from gatekeeper.core.modes import Mode
from gatekeeper.state.keys import Keys
from gatekeeper.state.store import identity, info_fields, set_mode, set_open

__all__ = ["run"]

PROCESSES = 4
TRIAL_TIMEOUT = 5.0
BLOCKS = 3  # as many as paths: each runs first, second and last once
NAMED, REREAD = "named", "x"
"""The two PUBLISH payloads of the gate: the new mode's name (the CLI's), or ``x``."""
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
        self.owner = identity()
        self.probes = [Probe(port, "/" if kind == "gate" else "/probe") for port in ports]

    def switch(self, close: bool, publish: str | None) -> None:
        """Change the state; ``publish`` is ``NAMED``, ``REREAD`` or ``None`` (bare write)."""
        client = self.ctx.client
        if self.kind == "floor":
            client.publish(f"{self.keys.prefix}:floor", "close" if close else "open")
            return
        if publish == NAMED:  # what `gatekeeper maintenance` / `gatekeeper open` send
            if close:
                set_mode(client, self.keys, Mode.MAINTENANCE, info_fields(owner=self.owner))
            else:
                set_open(client, self.keys)
            return
        if close:
            client.set(self.keys.state, "maintenance")
        else:
            client.delete(self.keys.state)
        if publish is not None:
            client.publish(self.keys.events, publish)

    def resume(self) -> None:
        for probe in self.probes:
            probe.go.set()

    def pause(self) -> None:
        for probe in self.probes:
            probe.go.clear()

    async def trial(self, close: bool, publish: str | None, idle: bool) -> float:
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

    async def series(self, count: int, publish: str | None, idle: bool) -> list[float]:
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
    # (kind, payload, result key prefix); alternated by block so no path always goes first
    paths = [
        ("gate", NAMED, "publish"),
        ("floor", NAMED, "publish"),
        ("gate", REREAD, "publish_x"),
    ]
    try:
        for block in range(BLOCKS):
            shift = block % len(paths)
            for kind, payload, key in paths[shift:] + paths[:shift]:
                for mode in ("idle", "busy"):
                    got = await groups[kind].series(per_block, payload, mode == "idle")
                    out[kind].setdefault(f"{key}_{mode}", []).extend(got)
        bare = await groups["gate"].series(max(2, s.set_trials // 2 * 2), None, False)
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
    g, f = out["gate"], out["floor"]
    for mode in ("idle", "busy"):
        floor = f[f"publish_{mode}"]
        for key in (f"publish_{mode}", f"publish_x_{mode}"):
            for stat in ("p50", "p99"):
                g[key][f"ratio_{stat}"] = ratio(g[key][stat], floor[stat])
    ctx.log(
        "  PUBLISH p50/p99 ms, floor | gate named | gate x: "
        + "; ".join(
            f"{mode} {f[f'publish_{mode}']['p50']:.2f}/{f[f'publish_{mode}']['p99']:.2f} | "
            f"{g[f'publish_{mode}']['p50']:.2f}/{g[f'publish_{mode}']['p99']:.2f} | "
            f"{g[f'publish_x_{mode}']['p50']:.2f}/{g[f'publish_x_{mode}']['p99']:.2f}"
            for mode in ("idle", "busy")
        )
        + f"; bare SET max {g['bare_set']['max']:.0f} ms"
    )
    return out
