"""``python -m examples.demo [--out PATH] [--seed-rows N]``: a deploy under live traffic.

Exit status 0 only if no request failed, every write is in the database exactly once,
and the migration succeeded; 1 otherwise; 130 when interrupted. Whatever it started
(Redis, gunicorn, the runner) is stopped on every way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from gatekeeper.testing import RedisServerMissing

from .report import report_lines, runner_summary, summarize
from .services import (
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
    MANAGE,
    DemoError,
    DjangoExample,
    demo_redis,
)
from .svg import render_svg
from .traffic import READERS, WRITE_TEXT, WRITERS, Traffic

SEED_ROWS = 20_000
"""Notes seeded before the deploy: the migration then takes about 5 s (0.2 ms a note
plus Django's start-up, measured in CPU time on a 2-core machine)."""
BEFORE = 2.0
AFTER = 2.0
"""Seconds of traffic before the deploy starts and after it ends."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo",
        description="A deploy with a migration under live traffic: a report and a timeline. "
        "Exit status 0 only if no request failed and every write is in the database.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("gatekeeper-demo.svg"), metavar="PATH",
        help="where to write the timeline (default: ./gatekeeper-demo.svg)",
    )  # fmt: skip
    parser.add_argument(
        "--seed-rows", type=int, default=SEED_ROWS, metavar="N",
        help=f"notes in the database; the migration takes ~0.2 ms each (default {SEED_ROWS})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.seed_rows < 0:
        parser.error("--seed-rows: a number of notes, 0 or more")
    return args


def say(line: str) -> None:
    print(line, flush=True)


def runner_line(line: str) -> None:
    # The runner names the commands it runs by absolute path; the short form reads better.
    say("  runner | " + line.replace(" ".join(MANAGE), "python manage.py"))


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM and SIGHUP clean up exactly like Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        return run(args.out, args.seed_rows)
    except KeyboardInterrupt:
        print("demo: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    except (DemoError, RedisServerMissing) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1


def run(out: Path, seed_rows: int) -> int:
    prefix = f"gatekeeper-demo-{os.getpid()}"
    stack = contextlib.ExitStack()
    try:
        choice = stack.enter_context(demo_redis(prefix))
        say(f"redis    {choice.description}")
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gk-demo-")))
        app = DjangoExample(workdir, choice.url, prefix, seed_rows)
        say(f"app      examples/django_app on a new SQLite database: {seed_rows} notes, "
            "all but the last migration applied")  # fmt: skip
        app.prepare()
        stack.enter_context(app.serve())
        say(f"server   gunicorn on 127.0.0.1:{app.port}, {GUNICORN_WORKERS} workers "
            f"(gthread, {GUNICORN_THREADS} threads)")  # fmt: skip
        traffic = Traffic(app.port)
        # An early way out must not wait for held requests: the threads are daemons.
        stack.callback(traffic.stop, 0.1)
        t0 = time.time()
        traffic.start()
        say(f"traffic  {READERS} readers (GET / and /notes/) and {WRITERS} writers "
            "(POST /notes/), from now to the end")  # fmt: skip
        time.sleep(BEFORE)
        say("deploy   python manage.py gatekeeper run-migration --json")
        runner = stack.enter_context(app.runner(runner_line))
        runner.wait()
        try:
            result = runner_summary(app.runner_output())
        except ValueError as exc:
            raise DemoError(f"{exc}; its output:\n{app.runner_output()}") from None
        say(f"traffic  {AFTER:g} s more after the release")
        time.sleep(AFTER)
        samples = traffic.stop()
        stored = app.notes_like(WRITE_TEXT.format("%"))
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            stack.close()
        finally:
            signal.signal(signal.SIGINT, previous)

    summary = summarize(samples, result, stored)
    out.write_text(render_svg(samples, t0, result, summary))
    say("")
    for line in report_lines(summary):
        say(line)
    say(f"timeline:          {out.resolve()}")
    if summary.ok:
        say("OK: every request answered, none failed, every write stored exactly once")
        return 0
    say("FAILED: see the lines above")
    return 1


if __name__ == "__main__":
    sys.exit(main())
