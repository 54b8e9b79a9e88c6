"""``python -m examples.demo [--out PATH] [--seed-rows N]``: two deploys under live traffic.

Exit status 0 only if no request failed, every write is in the database exactly once,
and both deploys succeeded; 1 otherwise; 130 when interrupted. Whatever it started
(Redis, gunicorn, the deploy commands) is stopped on every way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from gatekeeper.testing import RedisServerMissing

from .report import json_summary, reload_window, report_lines, summarize
from .services import (
    FIRST_RELEASE,
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
    KEEPALIVE,
    MANAGE,
    DemoError,
    DjangoExample,
    demo_redis,
)
from .svg import render_svg
from .traffic import PATH, RATE, WRITE_PREFIX, WRITES_EVERY, Traffic

SEED_ROWS = 20_000
"""Notes seeded before the deploy: the migration then takes 2 to 5 s (0.2 ms a note
plus Django's start-up, measured in CPU time on a 2-core machine)."""
BEFORE, BETWEEN, AFTER = 2.0, 2.0, 2.0
"""Seconds of traffic before the first deploy, between the two, and after the second."""
MAX_HOLD = 30
"""``run-migration --max-hold``: room for a slow machine (the hold takes 2.5 to 5 s here)."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo",
        description="Two deploys under live open-loop traffic (new code with a migration, "
        "then new code alone): a report and a timeline. Exit status 0 only if no request "
        "failed, every write is in the database exactly once and both deploys succeeded.",
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


def shown(argv: Sequence[str]) -> str:
    """A command line as a person would type it: an argument that holds single quotes
    (a shell script given as one argument) in double quotes, the rest as shlex does."""
    return " ".join(
        f'"{arg}"' if "'" in arg and not set('"$`\\') & set(arg) else shlex.quote(arg)
        for arg in argv
    )


def relay_to(label: str, workdir: Path) -> Callable[[str], None]:
    def show(line: str) -> None:
        # The commands name what they run by absolute path; the short form reads better.
        line = line.replace(" ".join(MANAGE), "python manage.py").replace(f"{workdir}/", "")
        say(f"  {label} | {line}")

    return show


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


def deploy(
    stack: contextlib.ExitStack, app: DjangoExample, args: list[str], label: str
) -> tuple[dict[str, Any], list[tuple[float, str]]]:
    """Run ``manage.py gatekeeper ARGS`` to its end: its JSON summary, its stamped lines."""
    say(f"         python manage.py gatekeeper {shown(args)}")
    command = stack.enter_context(app.gatekeeper(args, relay_to(label, app.workdir)))
    command.wait()
    try:
        return json_summary(command.output()), command.stamps
    except ValueError as exc:
        raise DemoError(f"{exc}; its output:\n{command.output()}") from None


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
        say(f"         release {FIRST_RELEASE}, in {app.release_file} (NOTES_RELEASE_FILE)")
        app.prepare()
        stack.enter_context(app.serve())
        say(f"server   gunicorn on 127.0.0.1:{app.port} (master pid {app.master_pid}), "
            f"{GUNICORN_WORKERS} workers (gthread, {GUNICORN_THREADS} threads), "
            "gatekeeper's hooks")  # fmt: skip
        traffic = Traffic(app.port)
        # An early way out must not wait for held requests: the thread is a daemon.
        stack.callback(traffic.stop)
        traffic.start()
        say(f"traffic  open loop, {RATE:g} requests a second to {PATH} (every "
            f"{WRITES_EVERY}th a POST), following redirects, from now to the end")  # fmt: skip
        time.sleep(BEFORE)

        say("deploy 1 code v2 and the migration, held, restarted, handed off to v2:")
        runner, _ = deploy(stack, app, [
            "run-migration", "--max-hold", str(MAX_HOLD),
            "--restart", shlex.join(app.restart_argv("v2")), "--await-release", "v2",
            "--handoff", "--json",
        ], "runner")  # fmt: skip
        time.sleep(BETWEEN)

        say("deploy 2 code v3 alone, keep-alive off around the restart:")
        reloaded, stamps = deploy(stack, app, [
            "reload", "--await-release", "v3", "--close-for", str(KEEPALIVE), "--json",
            "--", *app.restart_argv("v3"),
        ], "reload")  # fmt: skip
        say(f"traffic  {AFTER:g} s more after the deploys")
        time.sleep(AFTER)
        result = traffic.result()
        stored = app.notes_with(WRITE_PREFIX)
        server_log = app.log_tail()
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            stack.close()
        finally:
            signal.signal(signal.SIGINT, previous)

    summary = summarize(result, runner, reloaded, reload_window(stamps, result.started_at), stored)
    out.write_text(render_svg(result.records, summary))
    say("")
    for line in report_lines(summary):
        say(line)
    say(f"timeline:          {out.resolve()}")
    if summary.ok:
        say("OK: no request failed, every write stored exactly once, both deploys succeeded")
        return 0
    if summary.failed and server_log:
        say("server log (its last lines):")
        for line in server_log:
            say(f"  {line}")
    say("FAILED: see the lines above")
    return 1


if __name__ == "__main__":
    sys.exit(main())
