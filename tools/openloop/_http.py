"""HTTP/1.1 on asyncio streams for the open-loop generator: a pool of keep-alive
connections, and a response head and body read by hand.

By hand, because the generator must see exactly what a real client sees: a reset, an
EOF before the response, a connection the server closed while it sat idle. A client
library would retry some of those or fold them into one exception.
"""

from __future__ import annotations

import asyncio
import collections

__all__ = ["Conn", "Failure", "Pool", "parse_head", "read_body"]


class Failure(Exception):
    """A request that failed, with the kind recorded for it (see ``ERROR_KINDS``)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Conn:
    __slots__ = ("reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = False

    def usable(self) -> bool:
        # A FIN from the server sets at_eof, a reset closes the transport.
        return not self.reader.at_eof() and not self.writer.is_closing()


class Pool:
    """Idle keep-alive connections (most recently used first) and a cap on open ones.

    The only check before reusing an idle connection is the one real clients make: it
    is dropped, unused, if the server has already closed it.
    """

    def __init__(self, host: str, port: int, max_connections: int, max_idle: int) -> None:
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.max_idle = max_idle
        self.idle: list[Conn] = []
        self.open = 0
        self.opened = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def acquire(self) -> Conn:
        while True:
            while self.idle:
                conn = self.idle.pop()
                if conn.usable():
                    return conn
                self.discard(conn)
            if self.open < self.max_connections:
                self.open += 1
                self.opened += 1
                try:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                except BaseException as exc:
                    self.open -= 1
                    self._wake()
                    if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
                        raise Failure("connect") from exc
                    raise
                return Conn(reader, writer)
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                # Woken and cancelled at once: pass the wake-up on, or a waiter may starve.
                if waiter.done() and not waiter.cancelled():
                    self._wake()
                raise

    def release(self, conn: Conn) -> None:
        if len(self.idle) >= self.max_idle or not conn.usable():
            self.discard(conn)
            return
        self.idle.append(conn)
        self._wake()

    def discard(self, conn: Conn) -> None:
        conn.writer.close()
        self.open -= 1
        self._wake()

    def close_all(self) -> None:
        while self.idle:
            self.discard(self.idle.pop())


def parse_head(head: bytes) -> tuple[str, int, dict[str, str]]:
    """Version, status and headers (names lower-cased, repeats joined) of a response."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    status = int(rest.split(" ", 1)[0])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"bad header line {line!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return version, status, headers


async def read_body(
    reader: asyncio.StreamReader, headers: dict[str, str], keep: int = 0
) -> tuple[bool, bytes]:
    """Read the body: whether the connection can carry another request (False when the
    body ran to its end), and the body's first ``keep`` bytes."""
    kept = bytearray()

    def hold(data: bytes) -> None:
        if len(kept) < keep:
            kept.extend(data[: keep - len(kept)])

    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return True, bytes(kept)
            hold((await reader.readexactly(size + 2))[:size])
    if "content-length" in headers:
        hold(await reader.readexactly(int(headers["content-length"])))
        return True, bytes(kept)
    while data := await reader.read(65536):
        hold(data)
    return False, bytes(kept)
