"""Running the generator: blocking (:func:`run`), or in a background thread while the
caller deploys (:func:`start`, :class:`OpenLoopRun`); and the records as JSON lines."""

from __future__ import annotations

import asyncio
import json
import select
import selectors
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tools.openloop._generator import Generator, Options
from tools.openloop._records import Record, Result

__all__ = ["OpenLoopRun", "run", "run_async", "start", "write_jsonl"]


async def run_async(url: str, rate: float, seconds: float, **options: Any) -> Result:
    """Send ``rate * seconds`` requests to ``url`` on the running loop (see the module
    and :class:`Options` for ``options``)."""
    return await Generator(url, rate, seconds, Options(**options)).run()


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


def _run_generator(generator: Generator) -> Result:
    loop = asyncio.SelectorEventLoop(_PreciseSelector())
    try:
        return loop.run_until_complete(generator.run())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def run(url: str, rate: float, seconds: float, **options: Any) -> Result:
    """:func:`run_async` on a new event loop with precise timers, blocking until it ends."""
    return _run_generator(Generator(url, rate, seconds, Options(**options)))


class OpenLoopRun:
    """A run in a background thread: :meth:`stop` ends arrivals, :meth:`result` waits.

    ``finished`` lists the requests that ended so far, in the order they ended (the
    run's thread appends complete records; a copy or ``len`` is safe to take).
    """

    def __init__(self, generator: Generator, stop_event: threading.Event) -> None:
        self.stop_event = stop_event
        self._generator = generator
        self._outcome: list[Result | BaseException] = []
        self.thread = threading.Thread(target=self._target, name="openloop", daemon=True)

    def _target(self) -> None:
        try:
            self._outcome.append(_run_generator(self._generator))
        except BaseException as exc:  # handed to result()
            self._outcome.append(exc)

    @property
    def finished(self) -> list[Record]:
        return self._generator.finished

    @property
    def started_at(self) -> float | None:
        """Epoch seconds of the run's ``t0`` (``None`` for a moment after :func:`start`)."""
        return self._generator.started_at

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

    def finish(self, timeout: float | None = None) -> Result:
        """:meth:`stop`, then :meth:`result`: every request, once those in flight ended."""
        self.stop()
        return self.result(timeout)


def start(url: str, rate: float, seconds: float, **options: Any) -> OpenLoopRun:
    """:func:`run` in a daemon thread, so the caller can act on the server meanwhile."""
    stop = options.pop("stop", None) or threading.Event()
    # Built here, so that a bad option raises in the caller, not in the thread.
    generator = Generator(url, rate, seconds, Options(stop=stop, **options))
    handle = OpenLoopRun(generator, stop)
    handle.thread.start()
    return handle


def write_jsonl(records: Sequence[Record], path: Path) -> None:
    with path.open("w") as out:
        for record in records:
            out.write(json.dumps(asdict(record)) + "\n")
