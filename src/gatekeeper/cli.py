"""The ``gatekeeper`` command: run a migration behind the gate, or drive the gate by hand.

::

    gatekeeper run-migration [options] -- python manage.py migrate
    gatekeeper hold|readonly|maintenance [--ttl S] [--message TEXT] [--retry-after S]
    gatekeeper open
    gatekeeper status [--json]

``--redis-url`` (``GATEKEEPER_REDIS_URL``) and ``--prefix`` (``GATEKEEPER_PREFIX``) are
accepted by every subcommand. Expected errors print one line. Exit status: 0 done (for
``run-migration``, COMMAND's own status); 2 usage error (bad arguments or option values);
3 the migration could not be protected and did not run (``--strict-drain`` timeout, fewer
live gate processes than ``--min-processes``); 75 (``EX_TEMPFAIL``) try again later:
Redis unreachable, or another ``run-migration`` holds the lock.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

import redis

from gatekeeper.control import identity, info_fields, read_status, set_mode, set_open
from gatekeeper.holdlease import LockBusy
from gatekeeper.keys import Keys
from gatekeeper.modes import Mode
from gatekeeper.option_parsers import parse_number, redact_url
from gatekeeper.options import OptionError, parse_option
from gatekeeper.progress import Progress
from gatekeeper.runner import EXIT_TEMPFAIL, EXIT_USAGE, RunOptions, run_migration

__all__ = ["main"]


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


_DESCRIPTION = (
    "Run a migration behind the gate (run-migration), or drive the gate by hand "
    "(hold, readonly, maintenance, open, status). Exit status: 0 done, 2 usage error, "
    "3 migration not protected (not run), 75 try again later (Redis unreachable, lock busy)."
)


def _number(option: str, low: float, high: float, integer: bool = False) -> Any:
    """An argparse type with the same validation as the option of that name."""

    def parse(text: str) -> float:
        try:
            value = parse_number(option, text, low=low, high=high, integer=integer)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(exc.problem) from None
        return int(value) if integer else value

    return parse


def _option(name: str) -> Any:
    """An argparse type that validates through the gate option ``name`` itself."""

    def parse(text: str) -> Any:
        try:
            return parse_option(name, text)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(exc.problem) from None

    return parse


def _hostname(text: str) -> str:
    if not text or len(text) > 253 or any(ch in text for ch in ":/ \t"):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a host name")
    return text.split(".")[0]


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--redis-url",
        default=argparse.SUPPRESS,  # so a subcommand's copy cannot reset the global one
        help="Redis URL (default: GATEKEEPER_REDIS_URL, else redis://localhost:6379/0)",
    )
    common.add_argument(
        "--prefix",
        default=argparse.SUPPRESS,
        help="key prefix (default: GATEKEEPER_PREFIX, else gatekeeper)",
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
        type=_number("--ttl", 0.3, 3600),
        default=6.0,
        help="seconds the state and lock outlive a dead runner (default 6)",
    )
    run.add_argument(
        "--max-hold",
        type=_number("--max-hold", 0.1, 86400),
        default=15.0,
        help="seconds before an overrun turns into maintenance (default 15)",
    )
    run.add_argument(
        "--drain-timeout",
        type=_number("--drain-timeout", 0, 3600),
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
        type=_number("--min-processes", 0, 100000, integer=True),
        default=0,
        metavar="N",
        help="refuse (exit 3, COMMAND not run) unless at least N gate processes report in",
    )
    run.add_argument(
        "--expect-host",
        type=_hostname,
        action="append",
        default=[],
        metavar="HOST",
        help="refuse (exit 3) unless a gate process on HOST reports in (repeatable)",
    )
    run.add_argument(
        "--on-failure",
        choices=["open", "maintenance"],
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
        "--message", type=_option("message"), help="message for the 503 page on overrun or failure"
    )
    run.add_argument(
        "--retry-after", type=_option("retry_after"), help="Retry-After seconds for 503s"
    )
    run.add_argument(
        "--json", action="store_true", help="print a JSON summary on stdout at the end"
    )

    for name, text in (
        ("hold", "hold requests"),
        ("readonly", "let reads through, hold writes"),
        ("maintenance", "answer 503"),
    ):
        sub = commands.add_parser(name, parents=[common], help=text)
        sub.add_argument(
            "--ttl",
            type=_number("--ttl", 0.3, 30 * 86400),
            help="seconds until the state expires by itself",
        )
        sub.add_argument("--message", type=_option("message"), help="shown on the 503 page")
        sub.add_argument("--retry-after", type=_option("retry_after"), help="Retry-After seconds")
        sub.add_argument(
            "--max-hold",
            type=_number("--max-hold", 0.1, 86400),
            help="held requests get the 503 after S seconds from now",
        )
    commands.add_parser("open", parents=[common], help="let every request through")
    status = commands.add_parser(
        "status", parents=[common], help="show the state, lock and live processes"
    )
    status.add_argument("--json", action="store_true")
    return parser  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in args_list:
        split = args_list.index("--")
        args_list, command = args_list[:split], args_list[split + 1 :]
    try:
        try:
            args = build_parser().parse_args(args_list)
        except UsageError:
            if "run-migration" in args_list and not command:
                raise UsageError("run-migration needs '--' before the COMMAND to run") from None
            raise
        if args.command == "run-migration" and not command:
            raise UsageError("run-migration needs '--' followed by the COMMAND to run")
        if args.command != "run-migration" and command:
            raise UsageError(f"{args.command} takes no COMMAND after '--'")
        url = parse_option(
            "redis_url",
            getattr(args, "redis_url", None)
            or os.environ.get("GATEKEEPER_REDIS_URL", "redis://localhost:6379/0"),
        )
        prefix = parse_option(
            "prefix",
            getattr(args, "prefix", None) or os.environ.get("GATEKEEPER_PREFIX", "gatekeeper"),
        )
    except (UsageError, OptionError) as exc:
        return _fail(str(exc))
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=5)
    keys = Keys(prefix)
    try:
        if args.command == "run-migration":
            return _run(client, keys, args, command, url)
        if args.command == "status":
            return _status(client, keys, url, as_json=args.json)
        if args.command == "open":
            set_open(client, keys)
        else:
            hold_until = time.time() + args.max_hold if args.max_hold else None
            fields = info_fields(
                message=args.message,
                retry_after=args.retry_after,
                hold_until=hold_until,
                owner=identity(),
            )
            set_mode(client, keys, Mode(args.command), fields, ttl=args.ttl)  # fmt: skip
        ttl = f" (expires in {args.ttl:g}s)" if getattr(args, "ttl", None) else ""
        print(f"{keys.state} = {args.command}{ttl}")
        return 0
    except LockBusy as busy:
        expiry = f", expires in {busy.ttl:.1f}s" if busy.ttl else ""
        return _fail(f"another run-migration holds the lock: {busy.holder}{expiry}", EXIT_TEMPFAIL)
    except (redis.AuthenticationError, redis.exceptions.NoPermissionError) as exc:
        # Retrying will not help: the credentials or the ACL must be fixed.
        return _fail(f"Redis at {redact_url(url)} refused: {exc.__class__.__name__}")
    except redis.RedisError as exc:
        return _fail(
            f"cannot reach Redis at {redact_url(url)}: {exc.__class__.__name__}", EXIT_TEMPFAIL
        )
    finally:
        client.close()


def _fail(message: str, status: int = EXIT_USAGE) -> int:
    print(f"gatekeeper: error: {message}", file=sys.stderr)
    return status


def _run(
    client: redis.Redis, keys: Keys, args: argparse.Namespace, command: list[str], url: str
) -> int:
    opts = RunOptions(
        command=command, mode=Mode(args.mode), ttl=args.ttl, max_hold=args.max_hold,
        drain_timeout=args.drain_timeout, strict_drain=args.strict_drain,
        on_failure=args.on_failure, if_pending=args.if_pending,
        allow_ungated=args.allow_ungated, message=args.message, retry_after=args.retry_after,
        min_processes=args.min_processes, expect_hosts=tuple(args.expect_host),
        redis_label=f"{redact_url(url)} (prefix {keys.prefix!r})",
    )  # fmt: skip
    result = run_migration(client, keys, opts, Progress())
    if args.json:
        print(json.dumps(result.as_dict(), sort_keys=True))
    return result.exit_code


def _status(client: redis.Redis, keys: Keys, url: str, *, as_json: bool) -> int:
    status = read_status(client, keys)
    if as_json:
        print(
            json.dumps(
                {"redis_url": redact_url(url), "prefix": keys.prefix, **status.as_dict()},
                sort_keys=True,
            )
        )
        return 0
    ttl = f" (expires in {status.ttl:.1f}s)" if status.ttl else ""
    print(f"redis:     {redact_url(url)}  prefix {keys.prefix}")
    print(
        f"state:     {status.state}{ttl}"
        + ("" if status.mode != "unknown" else "  (not a mode: the gates act on their fail_mode)")
    )
    for name, value in sorted(status.info.items()):
        print(f"  {name + ':':<12} {value[:200]}")
    if status.lock_holder:
        print(f"lock:      {status.lock_holder} (expires in {status.lock_ttl or 0:.1f}s)")
    print(f"processes: {len(status.processes)}")
    for report in status.processes:
        print(
            f"  {report['id']:<40} mode={report.get('mode', '?'):<11} "
            f"in-flight={report.get('inflight', '?'):<4} held={report.get('held', '?'):<5} "
            f"released={report.get('released_total', '?')}"
        )
    return 0  # fmt: skip
