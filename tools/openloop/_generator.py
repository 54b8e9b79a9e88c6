"""The open-loop schedule: arrival ``i`` at ``t0 + i / rate``, each request on its own
task, its redirects followed, its outcome recorded and never retried."""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from tools.openloop._http import Failure, Pool, parse_head, read_body
from tools.openloop._records import Record, Result

__all__ = ["DEFAULT_MAX_CONNECTIONS", "DEFAULT_MAX_IDLE", "Generator", "Options"]

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


@dataclass(frozen=True)
class Options:
    """What :func:`tools.openloop.run` takes besides the URL, the rate and the seconds.

    ``path_read`` and ``path_write`` default to the URL's path. Setting ``stop`` ends
    the arrivals early; requests in flight still finish (or time out).
    ``follow_redirects`` is the most redirects one request follows (0: none);
    ``tag_header`` names the response header (any case) kept in each record's ``tag``.
    ``ids_on_reads`` sends ``X-Request-Id`` on reads too, for an app that journals
    every request. ``write_body`` makes a write's body from its record (default
    ``{"id": "<request id>"}``); ``keep_body`` keeps that many bytes of each final
    response's body in its record (decoded as UTF-8).
    """

    writes_every: int = 4
    path_read: str | None = None
    path_write: str | None = None
    timeout: float = 30.0
    run_id: str | None = None
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_idle: int = DEFAULT_MAX_IDLE
    stop: threading.Event | None = None
    follow_redirects: int = 0
    tag_header: str | None = None
    ids_on_reads: bool = False
    write_body: Callable[[Record], bytes] | None = None
    keep_body: int = 0


def _id_body(record: Record) -> bytes:
    return json.dumps({"id": record.request_id}).encode()


class Generator:
    """One run. ``finished`` fills as requests end and ``started_at`` is set at ``t0``,
    so that a caller in another thread can watch the run while it goes on."""

    def __init__(self, url: str, rate: float, seconds: float, options: Options) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f"only http:// URLs, not {url!r}")
        if rate <= 0 or seconds <= 0 or options.writes_every < 0:
            raise ValueError("rate and seconds must be positive, writes_every >= 0")
        if options.follow_redirects < 0:
            raise ValueError(f"follow_redirects must be >= 0, not {options.follow_redirects}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.host_header = parts.netloc
        default_path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.path_read = options.path_read or default_path
        self.path_write = options.path_write or default_path
        self.rate = rate
        self.seconds = seconds
        self.options = options
        self.run_id = options.run_id or secrets.token_hex(4)
        self.tag_header = options.tag_header.lower() if options.tag_header else None
        self.write_body = options.write_body or _id_body
        self.finished: list[Record] = []
        """Records of the requests that ended, in the order they ended."""
        self.started_at: float | None = None
        """Epoch seconds of ``t0``, once the run has begun."""

    def is_write(self, index: int) -> bool:
        every = self.options.writes_every
        return every > 0 and index % every == every - 1

    def request(self, method: str, target: str, record: Record) -> bytes:
        """The bytes of one request; only a ``POST`` carries the body."""
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {self.host_header}\r\n"
            "User-Agent: gatekeeper-openloop\r\n"
        )
        if record.request_id is not None:
            head += f"X-Request-Id: {record.request_id}\r\n"
        if method != "POST":
            return (head + "\r\n").encode("latin-1")
        body = self.write_body(record)
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode("latin-1") + body

    def redirect_target(self, target: str, location: str) -> str:
        """The path-and-query ``location`` leads to from ``target``, if on the same origin.

        Raises ``Failure("redirect")`` for a URL elsewhere: the request must not leave.
        """
        url = urlsplit(urljoin(f"http://{self.host_header}{target}", location))
        try:
            port = url.port or 80
        except ValueError as exc:  # a port that is not a number
            raise Failure("redirect") from exc
        if url.scheme != "http" or url.hostname != self.host or port != self.port:
            raise Failure("redirect")
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        # The head was decoded as latin-1: back to its bytes, so UTF-8 is escaped as such.
        return quote(path.encode("latin-1"), safe=_TARGET_SAFE)

    async def exchange(self, pool: Pool, record: Record, t0: float) -> None:
        """The request and the redirects it follows; ``one`` bounds it all by the timeout."""
        method = record.method
        target = self.path_write if method == "POST" else self.path_read
        payload = self.request(method, target, record)
        while True:
            headers = await self.hop(pool, record, t0, payload)
            location = headers.get("location")
            if (
                record.status not in REDIRECT_STATUSES
                or location is None
                or record.redirects >= self.options.follow_redirects
            ):
                break
            target = self.redirect_target(target, location)
            if record.status == 303 or (record.status in (301, 302) and method == "POST"):
                method = "GET"  # what browsers do; 307 and 308 keep method and body
            payload = self.request(method, target, record)
            record.redirects += 1
        if self.tag_header is not None:
            record.tag = headers.get(self.tag_header)

    async def hop(self, pool: Pool, record: Record, t0: float, payload: bytes) -> dict[str, str]:
        """One request and its response, on a connection from the pool; the headers."""
        loop = asyncio.get_running_loop()
        # An earlier hop's response is not this one's: "not reached" until it is.
        record.first_byte = record.end = record.body = None
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
                version, status, headers = parse_head(head)
                if not 100 <= status < 200:
                    break  # interim responses (100 Continue) precede the real one
            ended, body = True, b""
            if status not in (204, 304):
                ended, body = await read_body(conn.reader, headers, self.options.keep_body)
            record.end = loop.time() - t0
            record.status = status
            if self.options.keep_body:
                record.body = body.decode(errors="replace")
            tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
            if version == "HTTP/1.0":
                keep = ended and "keep-alive" in tokens
            else:
                keep = ended and "close" not in tokens
            return headers
        except asyncio.IncompleteReadError as exc:
            raise Failure("eof") from exc
        except ConnectionError as exc:
            raise Failure("reset") from exc
        except (ValueError, IndexError, asyncio.LimitOverrunError) as exc:
            raise Failure("protocol") from exc
        finally:
            if keep:
                pool.release(conn)
            else:
                pool.discard(conn)

    async def one(self, pool: Pool, record: Record, t0: float) -> None:
        loop = asyncio.get_running_loop()
        remaining = t0 + record.scheduled + self.options.timeout - loop.time()
        try:
            await asyncio.wait_for(self.exchange(pool, record, t0), max(remaining, 0.0))
        except Failure as failure:
            record.error = failure.kind
        except TimeoutError:  # asyncio's own, and a socket's ETIMEDOUT
            record.error = "timeout"
        except OSError:
            record.error = "reset"
        if record.error is not None:
            record.status = 0
            record.end = loop.time() - t0
        self.finished.append(record)

    async def run(self) -> Result:
        loop = asyncio.get_running_loop()
        pool = Pool(self.host, self.port, self.options.max_connections, self.options.max_idle)
        stop = self.options.stop
        count = math.floor(self.rate * self.seconds + 1e-9)
        records: list[Record] = []
        tasks: list[asyncio.Task[None]] = []
        t0 = loop.time() + LEAD
        self.started_at = time.time() + (t0 - loop.time())
        for index in range(count):
            scheduled = index / self.rate
            while (delay := t0 + scheduled - loop.time()) > 0:
                if stop is not None and stop.is_set():
                    break
                # Short naps so a stop request is seen without waiting for an arrival.
                await asyncio.sleep(min(delay, 0.05))
            if stop is not None and stop.is_set():
                break
            write = self.is_write(index)
            request_id = f"{self.run_id}-{index}" if write or self.options.ids_on_reads else None
            record = Record(index, "POST" if write else "GET", request_id, scheduled)
            records.append(record)
            tasks.append(loop.create_task(self.one(pool, record, t0)))
        # Each request ends by its own timeout; this only guards against a bug.
        limit = t0 + self.seconds + self.options.timeout + 5 - loop.time()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(limit, 0.0))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
            for record in records:
                if record.end is None and record.error is None:
                    record.error = "timeout"
                    self.finished.append(record)
        pool.close_all()
        return Result(records, pool.opened, loop.time() - t0, self.started_at)
