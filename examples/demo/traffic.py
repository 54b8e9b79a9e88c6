"""The demo's traffic: steady reads and writes, from before the deploy to after it.

The example app runs code that works with the schema before and after the pending
migration (``Note.words`` is there already; the migration counts the words of the old
notes). So both kinds of request flow from the start: the gate holds them while the
migration rewrites the table, and lets them go when it is done.
"""

from __future__ import annotations

import json

from gatekeeper.loadgen import Load, Request, Sample

READ_PATHS = ("/", "/notes/")
WRITE_TEXT = "demo write {}"
"""Text of the write numbered N; the database check looks for exactly these."""
READERS = 8
WRITERS = 4


def read_request(number: int) -> Request:
    return ("GET", READ_PATHS[number % len(READ_PATHS)], b"")


def write_request(number: int) -> Request:
    return ("POST", "/notes/", json.dumps({"text": WRITE_TEXT.format(number)}).encode())


class Traffic:
    """Two :class:`Load` generators against 127.0.0.1:``port``: readers and writers."""

    def __init__(self, port: int, readers: int = READERS, writers: int = WRITERS) -> None:
        # Short pauses keep the rate steady and well under what 2 cores can serve, so
        # the latencies drawn are the gate's doing, not a saturated machine's.
        self.reads = Load("127.0.0.1", port, workers=readers, pause=0.02, next_request=read_request)
        self.writes = Load(
            "127.0.0.1", port, workers=writers, pause=0.05, next_request=write_request
        )

    def start(self) -> None:
        self.reads.start()
        self.writes.start()

    def stop(self, timeout: float | None = None) -> list[Sample]:
        """Every sample, in order of start; ``timeout`` bounds the wait per worker."""
        samples = self.reads.stop(timeout) + self.writes.stop(timeout)
        return sorted(samples, key=lambda sample: sample.started)
