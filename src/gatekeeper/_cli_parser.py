"""The grammar of the ``gatekeeper`` command: subcommands, options and their checks.

Numbers and texts that are also gate options are checked by the options' own parsers, so
``--retry-after 0`` is refused here exactly as ``retry_after=0`` is in the app.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from gatekeeper._cli_types import checked, command_argv, host_name, number, release_name
from gatekeeper.events import LOG_FORMATS
from gatekeeper.observe._exporter_cli import add_exporter_parser
from gatekeeper.options import option_default
from gatekeeper.runner.options import DEFAULT_CLOSE_FOR, ON_FAILURE_CHOICES

__all__ = ["UsageError", "build_parser"]


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


_DESCRIPTION = (
    "Run a migration behind the gate (run-migration), restart the app without losing a "
    "request (reload), or drive the gate by hand (hold, readonly, maintenance, open, "
    "status). Exit status: 0 done (run-migration, reload: COMMAND's own), 2 usage error, "
    "3 not protected (COMMAND not run) or new release not seen, 75 try again later "
    "(Redis unreachable, lock busy)."
)


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--redis-url",
        default=argparse.SUPPRESS,  # so a subcommand's copy cannot reset the global one
        help=f"Redis URL (default: GATEKEEPER_REDIS_URL, else {option_default('redis_url')})",
    )
    common.add_argument(
        "--prefix",
        default=argparse.SUPPRESS,
        help=f"key prefix (default: GATEKEEPER_PREFIX, else {option_default('prefix')})",
    )
    common.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=argparse.SUPPRESS,
        help="stderr as text, or json: one event per line for deploy pipelines "
        "(default: GATEKEEPER_LOG_FORMAT, else text)",
    )
    parser = _Parser(prog="gatekeeper", description=_DESCRIPTION, parents=[common])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser(
        "run-migration",
        parents=[common],
        help="run COMMAND while traffic is held",
        usage="gatekeeper run-migration [options] -- COMMAND [ARGS...]",
    )
    run.add_argument("--mode", choices=["hold", "readonly", "maintenance"], default="hold")
    run.add_argument(
        "--ttl",
        type=number("--ttl", 0.3, 3600),
        default=6.0,
        help="seconds the state and lock outlive a dead runner (default 6)",
    )
    run.add_argument(
        "--max-hold",
        type=number("--max-hold", 0.1, 86400),
        default=15.0,
        help="seconds before an overrun turns into maintenance (default 15)",
    )
    run.add_argument(
        "--drain-timeout",
        type=number("--drain-timeout", 0, 3600),
        default=5.0,
        help="seconds to wait for in-flight requests (default 5)",
    )
    run.add_argument(
        "--strict-drain",
        action="store_true",
        help="stop (exit 3) instead of going on after a drain timeout",
    )
    run.add_argument(
        "--min-processes",
        type=number("--min-processes", 0, 100000, integer=True),
        default=0,
        metavar="N",
        help="refuse (exit 3, COMMAND not run) unless at least N gate processes report in",
    )
    run.add_argument(
        "--expect-host",
        type=host_name,
        action="append",
        default=[],
        metavar="HOST",
        help="refuse (exit 3) unless a gate process on HOST reports in (repeatable)",
    )
    run.add_argument(
        "--on-failure",
        choices=ON_FAILURE_CHOICES,
        default="open",
        help="state after COMMAND fails (default open)",
    )
    run.add_argument(
        "--if-pending",
        metavar="CHECK",
        help="run CHECK first; exit 0 means nothing pending: run COMMAND without holding",
    )
    run.add_argument(
        "--allow-ungated", action="store_true", help="run COMMAND even when Redis cannot be reached"
    )
    run.add_argument(
        "--message",
        type=checked("message"),
        help="message for the 503 page on overrun or failure",
    )
    run.add_argument(
        "--retry-after", type=checked("retry_after"), help="Retry-After seconds for 503s"
    )
    run.add_argument(
        "--json", action="store_true", help="print a JSON summary on stdout at the end"
    )
    _add_restart(run)

    _add_reload(commands, common)
    add_exporter_parser(commands, common)

    for name, text in (
        ("hold", "hold requests"),
        ("readonly", "let reads through, hold writes"),
        ("maintenance", "answer 503"),
    ):
        sub = commands.add_parser(name, parents=[common], help=text)
        sub.add_argument(
            "--ttl",
            type=number("--ttl", 0.3, 30 * 86400),
            help="seconds until the state expires by itself",
        )
        sub.add_argument("--message", type=checked("message"), help="shown on the 503 page")
        sub.add_argument("--retry-after", type=checked("retry_after"), help="Retry-After seconds")
        sub.add_argument(
            "--max-hold",
            type=number("--max-hold", 0.1, 86400),
            help="held requests get the 503 after S seconds from now",
        )
    commands.add_parser("open", parents=[common], help="let every request through")
    status = commands.add_parser(
        "status", parents=[common], help="show the state, lock and live processes"
    )
    status.add_argument("--json", action="store_true")
    _add_watch(commands, common)
    return parser  # fmt: skip


def _add_watch(commands: Any, common: argparse.ArgumentParser) -> None:
    sub = commands.add_parser(
        "watch",
        parents=[common],
        help="a live view of the state, lock and processes, until Ctrl-C",
        description="Refresh a view of the state (TTL, owner), the run-migration lock and "
        "each gate process (release, in-flight, held, last heartbeat, gated/s) every "
        "interval. gated/s is the rate of gated requests: held, rejected or handed off "
        "per second, from each process's totals (the open path counts no requests, only "
        "in-flight ones). On a terminal with rich installed (the 'watch' extra) the view "
        "is redrawn in place; otherwise, or with --plain, a block of lines is printed per "
        "refresh, headed with its time.",
    )
    sub.add_argument(
        "--interval",
        type=number("--interval", 0.1, 60),
        default=1.0,
        metavar="S",
        help="seconds between refreshes (default 1)",
    )
    sub.add_argument(
        "--once",
        action="store_true",
        help="print one frame and exit: 0, or 75 if Redis cannot be reached",
    )
    sub.add_argument("--plain", action="store_true", help="plain lines, even on a terminal")


def _add_restart(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--restart",
        type=command_argv,
        metavar="CMD",
        help="after COMMAND succeeds, still holding, run CMD (split like a shell line, not "
        "run by one) to restart the app on the new code, e.g. 'kill -HUP 1234'",
    )
    run.add_argument(
        "--await-release",
        type=release_name,
        metavar="R",
        help="before opening, wait until processes of release R are live on every host "
        "that had processes (else exit 3)",
    )
    run.add_argument(
        "--handoff",
        action="store_true",
        help="open with a handoff to R: processes of other releases redirect what they "
        "hold (307), so the new code answers it; needs --await-release",
    )
    run.add_argument(
        "--release-timeout",
        type=number("--release-timeout", 0, 86400),
        default=60.0,
        metavar="S",
        help="seconds each release wait may take: R to appear, old processes to leave "
        "after a handoff (default 60)",
    )


def _add_reload(commands: Any, common: argparse.ArgumentParser) -> None:
    sub = commands.add_parser(
        "reload",
        parents=[common],
        help="restart the app (COMMAND) with keep-alive off, so no request is lost",
        usage="gatekeeper reload [options] -- COMMAND [ARGS...]",
    )
    sub.add_argument(
        "--close-for",
        type=number("--close-for", 0, 3600),
        default=DEFAULT_CLOSE_FOR,
        metavar="S",
        help=f"seconds of keep-alive off before COMMAND (default {DEFAULT_CLOSE_FOR:g}: "
        "above uvicorn's and hypercorn's 5 s keep-alive timeout)",
    )
    sub.add_argument(
        "--await-release",
        type=release_name,
        metavar="R",
        help="after COMMAND, wait until every live process reports release R (else exit 3)",
    )
    sub.add_argument(
        "--timeout",
        type=number("--timeout", 0, 86400),
        default=60.0,
        metavar="S",
        help="seconds each wait may take (acknowledgements, new processes; default 60)",
    )
    sub.add_argument(
        "--host",
        type=host_name,
        action="append",
        default=[],
        metavar="HOST",
        help="only the processes of HOST (repeatable): a rolling restart, one host at a time",
    )
    sub.add_argument(
        "--ttl",
        type=number("--ttl", 0.3, 3600),
        default=10.0,
        metavar="S",
        help="seconds keep-alive stays off and the lock held if the reload dies (default 10)",
    )
    sub.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
