"""The demo's traffic: open loop, 100 requests a second, from before the deploys to after.

Open loop (tools/openloop): arrival ``i`` is sent at ``i / RATE`` seconds
whatever became of the ones before, so a hold does not slow the client down; the
requests that arrive during it pile up, hundreds of them, and each is recorded with how
long it waited. None is ever sent again after a failure. The client follows redirects
as a browser does (a handoff's 307 resends the same method and body) and records each
final response's ``X-Release``: which code answered.

Every fourth request is ``POST /notes/`` with ``{"id": "demo-<i>"}`` (the example takes
the id as the note's text, so the database check finds each write by it); the rest are
``GET /notes/``. The example's code works with the schema before and after the pending
migration, so both kinds flow from the start.
"""

from __future__ import annotations

from tools.openloop import OpenLoopRun, Result, start

RATE = 100.0
"""Arrivals a second."""
WRITES_EVERY = 4
PATH = "/notes/"
RUN_ID = "demo"
WRITE_PREFIX = f"{RUN_ID}-"
"""Every write's text (its request id) starts with this."""
FOLLOW_REDIRECTS = 10
LONGEST = 300.0
"""Seconds the arrivals may go on: the demo stops them well before."""


class Traffic:
    """Open-loop requests to 127.0.0.1:``port`` in a background thread."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}{PATH}"
        self._run: OpenLoopRun | None = None

    def start(self) -> None:
        self._run = start(
            self.url, RATE, LONGEST, writes_every=WRITES_EVERY, run_id=RUN_ID,
            path_read=PATH, path_write=PATH, follow_redirects=FOLLOW_REDIRECTS,
            tag_header="x-release", timeout=60.0,
        )  # fmt: skip

    def stop(self) -> None:
        """No more arrivals; those in flight go on (a daemon thread: no wait at exit)."""
        if self._run is not None:
            self._run.stop()

    def result(self, timeout: float = 70.0) -> Result:
        """Every request, once the last in flight has ended."""
        assert self._run is not None, "not started"
        self.stop()
        return self._run.result(timeout)
