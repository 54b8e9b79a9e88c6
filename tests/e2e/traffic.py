"""Steady HTTP traffic against one example app, every request recorded (a separate process).

::

    python -m tests.e2e.traffic --port P --seconds S --out FILE [--workers N]
        [--path /notes] [--pause 0.05] [--stop-file FILE]

``--workers`` threads (:class:`tools.loadgen.Load`, keep-alive connections resent
once on a stale connection like a browser), from the first request to the last: half of
them write, ``POST <path>`` with ``{"text": "e2e <n>"}``, ``n`` being the request's
unique number (writes count from 0, reads from 10**9); the others read, ``GET <path>``.
A worker sends one kind only, so that when the gate holds every worker, the held
requests are reads and writes alike.
Every finished request becomes one JSON line in FILE, written as it ends: ``method``,
``path``, ``number``, ``started``, ``ended`` (epoch seconds), ``status`` (0: no
response), ``error``, ``retried``, ``note_id`` (the created note's id, for a ``201``)
and ``detail`` (the start of the body of any other status).

The traffic ends by itself after ``--seconds``, or earlier at the epoch time written in
``--stop-file`` once that file appears; requests in flight then still finish and are
recorded.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, TextIO

from tools.loadgen import Load, Sample

POLL = 0.05
"""Seconds between two looks at the control files (and two flushes of FILE)."""


def record(sample: Sample) -> dict[str, Any]:
    line: dict[str, Any] = {
        "method": sample.method,
        "path": sample.path,
        "number": sample.number,
        "started": sample.started,
        "ended": sample.ended,
        "status": sample.status,
        "error": sample.error,
        "retried": sample.retried,
        "note_id": None,
        "detail": "",
    }
    if sample.method == "POST" and sample.status == 201:
        try:
            line["note_id"] = json.loads(sample.body)["id"]
        except (ValueError, KeyError, TypeError):
            line["detail"] = sample.body[:300].decode(errors="replace")
    elif sample.status not in (200, 201):
        line["detail"] = sample.body[:300].decode(errors="replace")
    return line


def stop_time(stop_file: Path | None) -> float | None:
    if stop_file is None or not stop_file.exists():
        return None
    try:
        return float(stop_file.read_text())
    except ValueError:  # being written; the test renames it into place, but be safe
        return None


def flush(out: TextIO, loads: list[Load], done: list[int]) -> None:
    """Write the samples each load finished since the last flush; ``done`` counts them."""
    for index, load in enumerate(loads):
        # Appended by the workers; a slice is a consistent copy under the GIL.
        samples = load.samples[done[index] :]
        done[index] += len(samples)
        for sample in samples:
            out.write(json.dumps(record(sample)) + "\n")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.traffic", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True, help="longest run")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, one a request")
    parser.add_argument("--workers", type=int, default=8, help="half write, half read")
    parser.add_argument("--path", default="/notes")
    parser.add_argument("--pause", type=float, default=0.05, help="per worker, between requests")
    parser.add_argument("--stop-file", type=Path, help="holds the epoch time to stop at")
    args = parser.parse_args(argv)

    def write(number: int) -> tuple[str, str, bytes]:
        return "POST", args.path, json.dumps({"text": f"e2e {number}"}).encode()

    def read(number: int) -> tuple[str, str, bytes]:
        return "GET", args.path, b""

    writers = args.workers // 2
    loads = [
        Load("127.0.0.1", args.port, workers=writers, pause=args.pause, next_request=write,
             keep_body=True, first_number=0),
        Load("127.0.0.1", args.port, workers=args.workers - writers, pause=args.pause,
             next_request=read, keep_body=True, first_number=10**9),
    ]  # fmt: skip
    deadline = time.time() + args.seconds
    done = [0] * len(loads)
    with args.out.open("w") as out:
        for load in loads:
            load.start()
        while time.time() < deadline:
            deadline = min(deadline, stop_time(args.stop_file) or deadline)
            flush(out, loads, done)
            time.sleep(POLL)
        for load in loads:
            load.stop()
        flush(out, loads, done)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
