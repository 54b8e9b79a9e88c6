"""A steady stream of real HTTP requests, recorded one by one (stdlib only).

Used by the tests, the demo and the benchmarks to prove "no failed request": each worker
thread keeps one keep-alive connection (reconnecting after a failure, as a browser
would), sends its requests in turn, and records when each started and ended and how it
ended. A failure is anything but the expected status: a connection error, a reset, a
timeout, a 4xx or 5xx. Like a browser, a worker resends a request once on a fresh
connection when a kept-alive connection turns out to have been closed by the server
before any response byte came back (the request was not processed); such samples are
marked ``retried`` so reports can count them.
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Load", "Sample"]


@dataclass(frozen=True, slots=True)
class Sample:
    method: str
    path: str
    started: float
    ended: float
    status: int
    """HTTP status, or 0 when no response arrived (see ``error``)."""
    error: str = ""
    body: bytes = b""
    number: int = -1
    retry_after: str | None = None
    retried: bool = False
    """Resent once on a new connection after a kept-alive one was found closed."""
    """The request's sequence number (sent in ``id_header`` when one is set)."""

    @property
    def latency(self) -> float:
        return self.ended - self.started


Request = tuple[str, str, bytes]


class Load:
    """``workers`` threads sending ``next_request()`` to ``host:port`` until stopped."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        workers: int = 8,
        pause: float = 0.01,
        timeout: float = 30.0,
        next_request: Callable[[int], Request] | None = None,
        keep_body: bool = False,
        id_header: str | None = None,
        first_number: int = 0,
    ) -> None:
        self.host, self.port = host, port
        self.workers, self.pause, self.timeout = workers, pause, timeout
        self.next_request = next_request or (lambda n: ("GET", "/", b""))
        self.keep_body = keep_body
        self.id_header = id_header
        self.samples: list[Sample] = []
        self._numbers = itertools.count(first_number)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> Load:
        for index in range(self.workers):
            thread = threading.Thread(target=self._worker, name=f"load-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float | None = None) -> list[Sample]:
        """Stop sending; wait for requests in flight (up to ``timeout``) and return all."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5 if timeout is None else timeout)
        with self._lock:
            return list(self.samples)

    def _worker(self) -> None:
        connection: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            number = next(self._numbers)
            method, path, body = self.next_request(number)
            headers = {"Content-Type": "application/json"} if body else {}
            if self.id_header:
                headers[self.id_header] = str(number)
            started = time.time()
            retried = False
            while True:
                reused = connection is not None
                if connection is None:
                    connection = http.client.HTTPConnection(
                        self.host, self.port, timeout=self.timeout
                    )
                try:
                    connection.request(method, path, body=body or None, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    connection.close()
                    connection = None
                    if reused and not retried and isinstance(exc, _STALE):
                        # A kept-alive connection the server closed as the request went
                        # out: nothing was processed, so a browser resends once.
                        retried = True
                        continue
                    sample = Sample(
                        method, path, started, time.time(), 0,
                        error=type(exc).__name__, number=number, retried=retried,
                    )  # fmt: skip
                    break
                sample = Sample(
                    method, path, started, time.time(), response.status,
                    body=data if self.keep_body else b"", number=number,
                    retry_after=response.getheader("Retry-After"), retried=retried,
                )  # fmt: skip
                if response.will_close:
                    connection.close()
                    connection = None
                break
            with self._lock:
                self.samples.append(sample)
            if self.pause:
                self._stop.wait(self.pause)
        if connection is not None:
            connection.close()


_STALE = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
)
"""Errors that mean a reused connection was closed by the server before it answered."""
