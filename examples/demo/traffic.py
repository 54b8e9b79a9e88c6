"""The demo's traffic: steady reads all along, and writes that need the new column.

The example app already runs the release being deployed, whose inserts write the column
the pending migration adds. Sent before the hold, such a write would fail (that is the
failure gatekeeper exists to prevent), so the writers start the moment every gate
process holds: as in a real deploy, where the new code goes live under the hold. From
then on both kinds of request keep coming until the demo ends.
"""

from __future__ import annotations

import json
import subprocess
import time

import redis

from gatekeeper.keys import Keys
from gatekeeper.loadgen import Load, Request, Sample
from gatekeeper.registry import read_processes

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
        self.writes_started = False

    def start_reads(self) -> None:
        self.reads.start()

    def start_writes(self) -> None:
        if not self.writes_started:
            self.writes_started = True
            self.writes.start()

    def stop(self, timeout: float | None = None) -> list[Sample]:
        """Every sample, in order of start; ``timeout`` bounds the wait per worker."""
        samples = self.reads.stop(timeout) + (
            self.writes.stop(timeout) if self.writes_started else []
        )
        return sorted(samples, key=lambda sample: sample.started)


def wait_until_held(
    client: redis.Redis, keys: Keys, runner: subprocess.Popen[str], timeout: float = 60
) -> bool:
    """Whether every gate process reports ``hold`` before the runner ends.

    The report, not the state key: a process acts on the state once its watcher has
    heard the PUBLISH, and its report says when that happened.
    """
    deadline = time.monotonic() + timeout
    while runner.poll() is None and time.monotonic() < deadline:
        modes = [report.get("mode") for report in read_processes(client, keys)]
        if modes and all(mode == "hold" for mode in modes):
            return True
        time.sleep(0.005)
    return False
