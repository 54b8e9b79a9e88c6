"""Open-loop HTTP traffic against one example app, every request recorded (a separate process).

::

    python -m tests.e2e.traffic --port P --seconds S --out FILE [--rate 50]
        [--path /notes] [--stop-file FILE]

:func:`tools.openloop.start` at ``--rate`` arrivals a second, from the first request to
the last, whatever became of the ones before: a hold does not slow the traffic down,
and a request that fails (a reset, an EOF on a kept-alive connection, a timeout) is
recorded as failed and never sent again. Every other request writes, ``POST <path>``
with ``{"text": "e2e <n>"}``, ``n`` being the request's number (its index in the
run); the others read, ``GET <path>``. A process of its own, so that the test's work
(the deploy commands, SQLite, Redis) and the traffic do not share an interpreter.

50 a second by default: a 2 to 4 s hold then lets 100 to 200 requests go at once, half
of them writes, into 16 server threads. At 100 a second the examples' SQLite (busy
timeout 1 s) now and then failed one of those released writes with "database is
locked" (seen on Flask, 1 write in 4 runs): the database's lock, after the release.

Every finished request becomes one JSON line in FILE, written within ``POLL`` of its
end: ``method``, ``path``, ``number``, ``started`` (its scheduled arrival) and
``ended`` (epoch seconds), ``status`` (0: no response), ``error`` (why not, else
``""``), ``reused`` (sent on a kept-alive connection), ``note_id`` (the created note's
id, for a ``201``) and ``detail`` (the start of the body of any other status).

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

from tools.openloop import OpenLoopRun, Record, start

POLL = 0.05
"""Seconds between two looks at the stop file (and two flushes of FILE)."""
TIMEOUT = 30.0
"""Per request, as the closed-loop traffic this replaces allowed."""
KEEP_BODY = 300
"""Bytes of each response body kept: a note's id, or the start of an error page."""


def line(record: Record, started_at: float, path: str) -> dict[str, Any]:
    started = started_at + record.scheduled
    out: dict[str, Any] = {
        "method": record.method,
        "path": path,
        "number": record.index,
        "started": started,
        "ended": started_at + record.end if record.end is not None else started + TIMEOUT,
        "status": record.status,
        "error": record.error or "",
        "reused": record.reused,
        "note_id": None,
        "detail": "",
    }
    body = record.body or ""
    if record.method == "POST" and record.status == 201:
        try:
            out["note_id"] = json.loads(body)["id"]
        except (ValueError, KeyError, TypeError):
            out["detail"] = body
    elif record.status not in (200, 201):
        out["detail"] = body
    return out


def stop_time(stop_file: Path | None) -> float | None:
    if stop_file is None or not stop_file.exists():
        return None
    try:
        return float(stop_file.read_text())
    except ValueError:  # being written; the test renames it into place, but be safe
        return None


def flush(out: TextIO, run: OpenLoopRun, done: int, path: str) -> int:
    """Write the records that ended since the last flush; how many are written in all."""
    # Appended by the run's thread; a slice is a consistent copy under the GIL.
    records = run.finished[done:]
    started_at = run.started_at or 0.0  # set before any request ends
    for record in records:
        out.write(json.dumps(line(record, started_at, path)) + "\n")
    out.flush()
    return done + len(records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.traffic", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True, help="longest run")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines, one a request")
    parser.add_argument("--rate", type=float, default=50.0, help="arrivals per second")
    parser.add_argument("--path", default="/notes")
    parser.add_argument("--stop-file", type=Path, help="holds the epoch time to stop at")
    args = parser.parse_args(argv)

    def write_body(record: Record) -> bytes:
        return json.dumps({"text": f"e2e {record.index}"}).encode()

    run = start(
        f"http://127.0.0.1:{args.port}{args.path}", args.rate, args.seconds,
        writes_every=2, write_body=write_body, keep_body=KEEP_BODY, timeout=TIMEOUT,
    )  # fmt: skip
    done = 0
    with args.out.open("w") as out:
        # Bounded: the run's own arrivals end after --seconds.
        while run.thread.is_alive():
            when = stop_time(args.stop_file)
            if when is not None and time.time() >= when:
                run.stop()
            done = flush(out, run, done, args.path)
            run.thread.join(POLL)
        run.result(0)
        flush(out, run, done, args.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
