"""Hold N requests open against a server, release them, and time every response.

Each request is one connection (``Connection: close``) driven by a small
``asyncio.Protocol``: no task per request, so 10,000 of them cost the client little.
The time of a response is the arrival of its first bytes (``time.perf_counter``), and
latencies are measured from the moment just before the release ``PUBLISH`` was sent,
on the same clock in the same process.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["HeldRequest", "ReleaseResult", "hold_round"]

_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_PID = re.compile(rb"hello from (\d+)")
CONNECT_BATCH = 250


class HeldRequest(asyncio.Protocol):
    """One request on its own connection; ``done`` resolves with the whole response."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.first: float | None = None
        self.data = bytearray()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        self.data += data
        head_end = self.data.find(b"\r\n\r\n")
        if head_end >= 0 and not self.done.done():
            match = _LENGTH.search(self.data, 0, head_end + 2)
            if match is None or len(self.data) >= head_end + 4 + int(match.group(1)):
                self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)

    @property
    def status(self) -> int | None:
        try:
            return int(self.data.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return None

    @property
    def pid(self) -> int | None:
        match = _PID.search(self.data)
        return int(match.group(1)) if match else None


@dataclass
class ReleaseResult:
    n: int
    latencies_ms: list[float] = field(default_factory=list)
    by_pid: dict[int, list[float]] = field(default_factory=dict)
    failed: int = 0
    early: int = 0
    missing: int = 0
    hold_seconds: float = 0.0


async def _connect(port: int, n: int, path: str) -> list[HeldRequest]:
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    held: list[HeldRequest] = []
    for start in range(0, n, CONNECT_BATCH):
        count = min(CONNECT_BATCH, n - start)
        pairs = await asyncio.gather(
            *(
                loop.create_connection(lambda: HeldRequest(request), "127.0.0.1", port)
                for _ in range(count)
            )
        )
        held.extend(protocol for _, protocol in pairs)
    return held


async def hold_round(
    port: int,
    n: int,
    held_count: Callable[[], int],
    release: Callable[[], float],
    *,
    on_held: Callable[[], None] | None = None,
    path: str = "/",
    timeout: float = 120.0,
) -> ReleaseResult:
    """Send ``n`` requests, wait until ``held_count()`` reaches ``n``, call ``on_held``,
    then ``release()`` (which returns the time just before its PUBLISH) and collect."""
    started = time.monotonic()
    requests = await _connect(port, n, path)
    deadline = time.monotonic() + timeout
    while held_count() < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {held_count()} of {n} requests held after {timeout:g}s")
        await asyncio.sleep(0.02)
    result = ReleaseResult(n=n, hold_seconds=time.monotonic() - started)
    if on_held is not None:
        on_held()
    result.early = sum(1 for r in requests if r.first is not None)
    t0 = release()
    await asyncio.wait([r.done for r in requests], timeout=timeout)
    for r in requests:
        if r.transport is not None:
            r.transport.close()
        if r.first is None:
            result.missing += 1
        elif r.status != 200:
            result.failed += 1
        else:
            latency = (r.first - t0) * 1000
            result.latencies_ms.append(latency)
            if r.pid is not None:
                result.by_pid.setdefault(r.pid, []).append(latency)
    return result
