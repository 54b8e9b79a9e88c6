"""An open-loop HTTP load generator that never resends, to count what a deploy loses.

Closed-loop tools (wrk, ``benchmarks.load``) send the next request when the last one
ends, so a server that stalls simply gets fewer requests and the stall hides in a lower
rate; and most clients quietly retry a request whose kept-alive connection died, so the
loss hides too. Here arrival ``i`` is due at ``t0 + i / rate`` whatever became of the
ones before (a stall shows as queued arrivals and latency counted from the *scheduled*
time), and a request that fails is recorded with why (``connect``, ``reset``, ``eof``,
``timeout``, ``protocol``, ``redirect``) and never sent again.

Every fourth request (``writes_every``) is a ``POST`` carrying ``{"id": "<run>-<i>"}``
and ``X-Request-Id: <run>-<i>``, the rest ``GET``, so a test can check on the server
which writes arrived and that none arrived twice. Requests go over keep-alive
connections taken from a pool of idle ones, like an API client or nginx reuses them,
opening a new one when none is idle; a response with ``Connection: close`` closes its
connection. The only check before reusing an idle connection is the one real clients
make: it is dropped, unused, if the server has already closed it.

With ``follow_redirects=N`` a 301/302/303/307/308 with a ``Location`` is followed for
up to N hops, as a browser or ``httpx`` does: 307 and 308 resend the same method, body
and headers (``X-Request-Id`` included), 303, and 301/302 after a ``POST``, become a
``GET`` without body. Each hop takes a connection from the pool like any request, the
one timeout covers the whole chain, and a failure on any hop fails the request, never
retried. A ``Location`` off the target (another host or port, not ``http``) is not
followed: the request fails as ``redirect``. ``tag_header`` records one header of the
final response per request (which release answered, say).

::

    python -m benchmarks.openloop --url http://127.0.0.1:8000/ --rate 500 --seconds 10 \\
        --out requests.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import secrets
import select
import selectors
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from benchmarks.stats import percentile

__all__ = ["ERROR_KINDS", "OpenLoopRun", "Record", "Result", "Summary", "run", "run_async", "start"]

ERROR_KINDS = ("connect", "reset", "eof", "timeout", "protocol", "redirect")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# What a browser leaves unescaped in a request target; the rest (spaces, non-ASCII
# bytes) is percent-encoded before a Location goes on the request line.
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"
# Bounds the file descriptors a long stall can take; waiting for a connection counts in
# the request's lateness and latency, so a cap reached is visible, not hidden.
DEFAULT_MAX_CONNECTIONS = 1000
DEFAULT_MAX_IDLE = 256
# The first arrival is due this long after the loop is ready, so it is not late by setup.
LEAD = 0.005


@dataclass
class Record:
    """One arrival. Times are seconds since the run's ``t0``; ``None`` when not reached.

    ``status`` is 0 when no response came, and then ``error`` says why. ``reused`` is
    whether the request went on a connection that had carried an earlier one.

    With redirects followed, ``redirects`` counts the hops; ``method`` and ``sent`` stay
    those of the first request, while ``status``, ``first_byte``, ``end``, ``reused``
    and ``tag`` (the ``tag_header`` value) are of the last hop: its final response (a
    redirect itself when the hops ran out), or where it failed.
    """

    index: int
    method: str
    request_id: str | None
    scheduled: float
    sent: float | None = None
    first_byte: float | None = None
    end: float | None = None
    status: int = 0
    error: str | None = None
    reused: bool = False
    redirects: int = 0
    tag: str | None = None

    @property
    def latency(self) -> float | None:
        """From the scheduled time to the end of the response (queueing included)."""
        if self.status == 0 or self.end is None:
            return None
        return self.end - self.scheduled


@dataclass
class Summary:
    arrivals: int
    responses: int
    statuses: dict[int, int]
    failures: dict[str, int]
    failures_on_reused: int
    writes: int
    reads: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    lateness_ms: float
    connections_opened: int
    duration_s: float
    redirected: int = 0
    """Requests that followed at least one redirect."""
    redirects_max: int = 0
    """The most redirects one request followed."""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["statuses"] = {str(k): v for k, v in sorted(self.statuses.items())}
        return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


@dataclass
class Result:
    records: list[Record]
    connections_opened: int
    duration_s: float
    started_at: float = 0.0
    """Epoch seconds of ``t0``: a record's ``scheduled`` plus this is its wall time."""

    def summary(self) -> Summary:
        latencies = [r.latency for r in self.records if r.latency is not None]
        lateness = [r.sent - r.scheduled for r in self.records if r.sent is not None]
        failed = [r for r in self.records if r.error is not None]
        return Summary(
            arrivals=len(self.records),
            responses=len(latencies),
            statuses=dict(Counter(r.status for r in self.records if r.status)),
            failures=dict(Counter(r.error for r in failed if r.error)),
            failures_on_reused=sum(r.reused for r in failed),
            writes=sum(r.method == "POST" for r in self.records),
            reads=sum(r.method == "GET" for r in self.records),
            p50_ms=_ms(percentile(latencies, 50)),
            p99_ms=_ms(percentile(latencies, 99)),
            max_ms=_ms(max(latencies, default=None)),
            lateness_ms=_ms(max(lateness, default=0.0)) or 0.0,
            connections_opened=self.connections_opened,
            duration_s=round(self.duration_s, 3),
            redirected=sum(r.redirects > 0 for r in self.records),
            redirects_max=max((r.redirects for r in self.records), default=0),
        )


class _Failure(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _Conn:
    __slots__ = ("reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = False

    def usable(self) -> bool:
        # A FIN from the server sets at_eof, a reset closes the transport.
        return not self.reader.at_eof() and not self.writer.is_closing()


class _Pool:
    """Idle keep-alive connections (most recently used first) and a cap on open ones."""

    def __init__(self, host: str, port: int, max_connections: int, max_idle: int) -> None:
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.max_idle = max_idle
        self.idle: list[_Conn] = []
        self.open = 0
        self.opened = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def acquire(self) -> _Conn:
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
                        raise _Failure("connect") from exc
                    raise
                return _Conn(reader, writer)
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                # Woken and cancelled at once: pass the wake-up on, or a waiter may starve.
                if waiter.done() and not waiter.cancelled():
                    self._wake()
                raise

    def release(self, conn: _Conn) -> None:
        if len(self.idle) >= self.max_idle or not conn.usable():
            self.discard(conn)
            return
        self.idle.append(conn)
        self._wake()

    def discard(self, conn: _Conn) -> None:
        conn.writer.close()
        self.open -= 1
        self._wake()

    def close_all(self) -> None:
        while self.idle:
            self.discard(self.idle.pop())


def _parse_head(head: bytes) -> tuple[str, int, dict[str, str]]:
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


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bool:
    """Read the body; False when it ran to the end of the connection."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return True
            await reader.readexactly(size + 2)
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
        return True
    while await reader.read(65536):
        pass
    return False


class _Generator:
    def __init__(
        self,
        url: str,
        rate: float,
        seconds: float,
        writes_every: int,
        path_read: str | None,
        path_write: str | None,
        timeout: float,
        run_id: str | None,
        max_connections: int,
        max_idle: int,
        stop: threading.Event | None,
        *,
        follow_redirects: int = 0,
        tag_header: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f"only http:// URLs, not {url!r}")
        if rate <= 0 or seconds <= 0 or writes_every < 0:
            raise ValueError("rate and seconds must be positive, writes_every >= 0")
        if follow_redirects < 0:
            raise ValueError(f"follow_redirects must be >= 0, not {follow_redirects}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.host_header = parts.netloc
        default_path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.path_read = path_read or default_path
        self.path_write = path_write or default_path
        self.rate = rate
        self.seconds = seconds
        self.writes_every = writes_every
        self.timeout = timeout
        self.run_id = run_id or secrets.token_hex(4)
        self.max_connections = max_connections
        self.max_idle = max_idle
        self.stop = stop
        self.follow_redirects = follow_redirects
        self.tag_header = tag_header.lower() if tag_header is not None else None
        self._get = self.request("GET", self.path_read, None)

    def is_write(self, index: int) -> bool:
        return self.writes_every > 0 and index % self.writes_every == self.writes_every - 1

    def request(self, method: str, target: str, request_id: str | None) -> bytes:
        """The bytes of one request; only a ``POST`` carries the body."""
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {self.host_header}\r\n"
            "User-Agent: gatekeeper-openloop\r\n"
        )
        if request_id is not None:
            head += f"X-Request-Id: {request_id}\r\n"
        if method != "POST":
            return (head + "\r\n").encode("latin-1")
        body = json.dumps({"id": request_id}).encode()
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode("latin-1") + body

    def payload(self, record: Record) -> bytes:
        if record.request_id is None:
            return self._get
        return self.request("POST", self.path_write, record.request_id)

    def redirect_target(self, target: str, location: str) -> str:
        """The path-and-query ``location`` leads to from ``target``, if on the same origin.

        Raises ``_Failure("redirect")`` for a URL elsewhere: the request must not leave.
        """
        url = urlsplit(urljoin(f"http://{self.host_header}{target}", location))
        try:
            port = url.port or 80
        except ValueError as exc:  # a port that is not a number
            raise _Failure("redirect") from exc
        if url.scheme != "http" or url.hostname != self.host or port != self.port:
            raise _Failure("redirect")
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        # The head was decoded as latin-1: back to its bytes, so UTF-8 is escaped as such.
        return quote(path.encode("latin-1"), safe=_TARGET_SAFE)

    async def exchange(self, pool: _Pool, record: Record, t0: float) -> None:
        """The request and the redirects it follows; ``one`` bounds it all by the timeout."""
        method = record.method
        target = self.path_write if record.request_id is not None else self.path_read
        payload = self.payload(record)
        while True:
            headers = await self.hop(pool, record, t0, payload)
            location = headers.get("location")
            if (
                record.status not in REDIRECT_STATUSES
                or location is None
                or record.redirects >= self.follow_redirects
            ):
                break
            target = self.redirect_target(target, location)
            if record.status == 303 or (record.status in (301, 302) and method == "POST"):
                method = "GET"  # what browsers do; 307 and 308 keep method and body
            payload = self.request(method, target, record.request_id)
            record.redirects += 1
        if self.tag_header is not None:
            record.tag = headers.get(self.tag_header)

    async def hop(self, pool: _Pool, record: Record, t0: float, payload: bytes) -> dict[str, str]:
        """One request and its response, on a connection from the pool; the headers."""
        loop = asyncio.get_running_loop()
        # An earlier hop's response is not this one's: "not reached" until it is.
        record.first_byte = record.end = None
        record.status = 0
        record.reused = False
        conn = await pool.acquire()
        record.reused = conn.used
        conn.used = True
        keep = False
        try:
            conn.writer.write(payload)
            if record.sent is None:
                record.sent = loop.time() - t0
            await conn.writer.drain()
            while True:
                first = await conn.reader.readexactly(1)
                if record.first_byte is None:
                    record.first_byte = loop.time() - t0
                head = first + await conn.reader.readuntil(b"\r\n\r\n")
                version, status, headers = _parse_head(head)
                if not 100 <= status < 200:
                    break  # interim responses (100 Continue) precede the real one
            ended = True
            if status not in (204, 304):
                ended = await _read_body(conn.reader, headers)
            record.end = loop.time() - t0
            record.status = status
            tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
            if version == "HTTP/1.0":
                keep = ended and "keep-alive" in tokens
            else:
                keep = ended and "close" not in tokens
            return headers
        except asyncio.IncompleteReadError as exc:
            raise _Failure("eof") from exc
        except ConnectionError as exc:
            raise _Failure("reset") from exc
        except (ValueError, IndexError, asyncio.LimitOverrunError) as exc:
            raise _Failure("protocol") from exc
        finally:
            if keep:
                pool.release(conn)
            else:
                pool.discard(conn)

    async def one(self, pool: _Pool, record: Record, t0: float) -> None:
        loop = asyncio.get_running_loop()
        remaining = t0 + record.scheduled + self.timeout - loop.time()
        try:
            await asyncio.wait_for(self.exchange(pool, record, t0), max(remaining, 0.0))
        except _Failure as failure:
            record.error = failure.kind
        except TimeoutError:  # asyncio's own, and a socket's ETIMEDOUT
            record.error = "timeout"
        except OSError:
            record.error = "reset"
        if record.error is not None:
            record.status = 0
            record.end = loop.time() - t0

    async def run(self) -> Result:
        loop = asyncio.get_running_loop()
        pool = _Pool(self.host, self.port, self.max_connections, self.max_idle)
        count = math.floor(self.rate * self.seconds + 1e-9)
        records: list[Record] = []
        tasks: list[asyncio.Task[None]] = []
        t0 = loop.time() + LEAD
        started_at = time.time() + (t0 - loop.time())
        for index in range(count):
            scheduled = index / self.rate
            while (delay := t0 + scheduled - loop.time()) > 0:
                if self.stop is not None and self.stop.is_set():
                    break
                # Short naps so a stop request is seen without waiting for an arrival.
                await asyncio.sleep(min(delay, 0.05))
            if self.stop is not None and self.stop.is_set():
                break
            request_id = f"{self.run_id}-{index}" if self.is_write(index) else None
            record = Record(index, "POST" if request_id else "GET", request_id, scheduled)
            records.append(record)
            tasks.append(loop.create_task(self.one(pool, record, t0)))
        # Each request ends by its own timeout; this only guards against a bug.
        limit = t0 + self.seconds + self.timeout + 5 - loop.time()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(limit, 0.0))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
            for record in records:
                if record.end is None and record.error is None:
                    record.error = "timeout"
        pool.close_all()
        return Result(records, pool.opened, loop.time() - t0, started_at)


async def run_async(
    url: str,
    rate: float,
    seconds: float,
    *,
    writes_every: int = 4,
    path_read: str | None = None,
    path_write: str | None = None,
    timeout: float = 30.0,
    run_id: str | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_idle: int = DEFAULT_MAX_IDLE,
    stop: threading.Event | None = None,
    follow_redirects: int = 0,
    tag_header: str | None = None,
) -> Result:
    """Send ``rate * seconds`` requests to ``url`` on the running loop (see the module).

    ``path_read`` and ``path_write`` default to the URL's path. Setting ``stop`` ends the
    arrivals early; requests in flight still finish (or time out). ``follow_redirects``
    is the most redirects one request follows (0: none); ``tag_header`` names the
    response header (any case) kept in each record's ``tag``.
    """
    generator = _Generator(
        url, rate, seconds, writes_every, path_read, path_write, timeout, run_id,
        max_connections, max_idle, stop,
        follow_redirects=follow_redirects, tag_header=tag_header,
    )  # fmt: skip
    return await generator.run()


class _PreciseSelector(selectors.EpollSelector):
    """epoll that waits as long as asked, not rounded up to the next millisecond.

    ``epoll_wait`` takes whole milliseconds, so asyncio's timers fire up to 1 ms late
    (0.7 ms at the median, measured): that alone would be most of the latency this
    generator reports against a fast server. ``select`` on the epoll descriptor waits
    in microseconds for the same events; ``epoll_wait(0)`` then collects them.
    """

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0:
            try:
                select.select([self.fileno()], [], [], timeout)
            except ValueError:  # descriptor beyond select's FD_SETSIZE: epoll's own wait
                return super().select(timeout)
            timeout = 0
        return super().select(timeout)


def run(url: str, rate: float, seconds: float, **options: Any) -> Result:
    """:func:`run_async` on a new event loop with precise timers, blocking until it ends."""
    loop = asyncio.SelectorEventLoop(_PreciseSelector())
    try:
        return loop.run_until_complete(run_async(url, rate, seconds, **options))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@dataclass
class OpenLoopRun:
    """A run in a background thread: :meth:`stop` ends arrivals, :meth:`result` waits."""

    thread: threading.Thread
    stop_event: threading.Event
    _outcome: list[Result | BaseException] = field(default_factory=list)

    def stop(self) -> None:
        self.stop_event.set()

    def result(self, timeout: float | None = None) -> Result:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise TimeoutError(f"the open-loop run did not end within {timeout}s")
        outcome = self._outcome[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def start(url: str, rate: float, seconds: float, **options: Any) -> OpenLoopRun:
    """:func:`run` in a daemon thread, so the caller can act on the server meanwhile."""
    stop = options.pop("stop", None) or threading.Event()
    outcome: list[Result | BaseException] = []

    def target() -> None:
        try:
            outcome.append(run(url, rate, seconds, stop=stop, **options))
        except BaseException as exc:  # handed to result()
            outcome.append(exc)

    thread = threading.Thread(target=target, name="openloop", daemon=True)
    handle = OpenLoopRun(thread, stop, outcome)
    thread.start()
    return handle


def write_jsonl(records: Sequence[Record], path: Path) -> None:
    with path.open("w") as out:
        for record in records:
            out.write(json.dumps(asdict(record)) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.openloop",
        description="Open-loop HTTP load that never resends; prints a JSON summary.",
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="arrivals per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", type=Path, help="one JSON line per request")
    parser.add_argument("--writes-every", type=int, default=4)
    parser.add_argument("--path-read")
    parser.add_argument("--path-write")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--run-id")
    parser.add_argument("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS)
    parser.add_argument(
        "--follow-redirects", type=int, default=0, metavar="N", help="most hops per request"
    )
    parser.add_argument("--tag-header", help="response header recorded as each one's tag")
    args = parser.parse_args(argv)
    result = run(
        args.url, args.rate, args.seconds,
        writes_every=args.writes_every,
        path_read=args.path_read,
        path_write=args.path_write,
        timeout=args.timeout,
        run_id=args.run_id,
        max_connections=args.max_connections,
        follow_redirects=args.follow_redirects,
        tag_header=args.tag_header,
    )  # fmt: skip
    if args.out:
        write_jsonl(result.records, args.out)
    json.dump(result.summary().as_dict(), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
