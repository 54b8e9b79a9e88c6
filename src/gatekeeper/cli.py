"""The ``gatekeeper`` command: run a migration behind the gate, or drive the gate by hand.

::

    gatekeeper run-migration [options] -- python manage.py migrate
    gatekeeper hold|readonly|maintenance [--ttl S] [--message TEXT] [--retry-after S]
    gatekeeper open
    gatekeeper status [--json]
    gatekeeper watch [--interval S] [--once] [--plain]

``--redis-url`` (``GATEKEEPER_REDIS_URL``), ``--prefix`` (``GATEKEEPER_PREFIX``) and
``--log-format text|json`` (``GATEKEEPER_LOG_FORMAT``) are accepted by every subcommand;
``json`` turns stderr into one JSON event per line (:mod:`gatekeeper.events`). Expected
errors print one line. Exit status: 0 done (for ``run-migration``, COMMAND's own status);
2 usage error (bad arguments or option values); 3 the migration could not be protected
and did not run (``--strict-drain`` timeout, fewer live gate processes than
``--min-processes``); 75 (``EX_TEMPFAIL``) try again later: Redis unreachable, or
another ``run-migration`` holds the lock.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence

import redis

from gatekeeper._cli_parser import UsageError, build_parser
from gatekeeper._parsers import redact_url
from gatekeeper._redis_urls import parse_target
from gatekeeper.core.modes import Mode
from gatekeeper.events import LOG_FORMATS, cli_logging, emit
from gatekeeper.exceptions import LockBusy
from gatekeeper.observe._exporter_cli import run_exporter
from gatekeeper.options import OptionError, option_default, parse_option
from gatekeeper.runner.migration import EXIT_TEMPFAIL, EXIT_USAGE, RunOptions, run_migration
from gatekeeper.runner.progress import Progress
from gatekeeper.runner.reload import ReloadOptions, reload
from gatekeeper.state._redis import operator_client, serving_node
from gatekeeper.state.keys import Keys
from gatekeeper.state.store import (
    group_processes,
    identity,
    info_fields,
    read_status,
    set_mode,
    set_open,
)

__all__ = ["main"]

_WITH_COMMAND = ("run-migration", "reload")


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
            for name in _WITH_COMMAND:
                if name in args_list and not command:
                    raise UsageError(f"{name} needs '--' before the COMMAND to run") from None
            raise
        if args.command in _WITH_COMMAND and not command:
            raise UsageError(f"{args.command} needs '--' followed by the COMMAND to run")
        if args.command not in _WITH_COMMAND and command:
            raise UsageError(f"{args.command} takes no COMMAND after '--'")
        if args.command == "run-migration" and args.handoff and not args.await_release:
            raise UsageError("--handoff needs --await-release R: the release that takes over")
        url = parse_option(
            "redis_url",
            getattr(args, "redis_url", None)
            or os.environ.get("GATEKEEPER_REDIS_URL", option_default("redis_url")),
        )
        prefix = parse_option(
            "prefix",
            getattr(args, "prefix", None)
            or os.environ.get("GATEKEEPER_PREFIX", option_default("prefix")),
        )
        args.log_format = _log_format(getattr(args, "log_format", None))
    except (UsageError, OptionError) as exc:
        return _fail(str(exc))
    if args.command == "metrics-exporter":
        return run_exporter(args)  # reads the workers' files, not Redis
    # Undone when main() returns: tests, and manage.py/flask, call it in a live process.
    with cli_logging(args.log_format, secrets=parse_target(url).secrets()):
        return _act(args, command, url, prefix)


def _log_format(given: str | None) -> str:
    """``--log-format``, else ``GATEKEEPER_LOG_FORMAT``, else ``text``."""
    value = given or os.environ.get("GATEKEEPER_LOG_FORMAT", "").strip().lower() or "text"
    if value not in LOG_FORMATS:
        raise UsageError(f"GATEKEEPER_LOG_FORMAT must be text or json, not {value[:40]!r}")
    return value


def _act(args: argparse.Namespace, command: list[str], url: str, prefix: str) -> int:
    keys = Keys.for_url(prefix, url)
    client = operator_client(url, keys.state)
    try:
        if args.command == "run-migration":
            return _run(client, keys, args, command, url)
        if args.command == "reload":
            return _reload(client, keys, args, command, url)
        if args.command == "status":
            return _status(client, keys, url, as_json=args.json)
        if args.command == "watch":
            from gatekeeper.watch import run_watch  # rich, if used, only loads in there

            return run_watch(
                client, keys, url, interval=args.interval, once=args.once, plain=args.plain
            )
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
        emit(
            "cli.state_set", f"{keys.state} = {args.command}{ttl}", state=args.command,
            key=keys.state, ttl_seconds=getattr(args, "ttl", None),
        )  # fmt: skip
        return 0
    except LockBusy as busy:
        expiry = f", expires in {busy.ttl:.1f}s" if busy.ttl else ""
        return _fail(
            f"another deploy holds the lock: {busy.holder}{expiry}", EXIT_TEMPFAIL, args.log_format
        )
    except (redis.AuthenticationError, redis.exceptions.NoPermissionError) as exc:
        # Retrying will not help: the credentials or the ACL must be fixed.
        return _fail(
            f"Redis at {redact_url(url)} refused: {exc.__class__.__name__}",
            log_format=args.log_format,
        )
    except redis.RedisError as exc:
        return _fail(
            f"cannot reach Redis at {redact_url(url)}: {exc.__class__.__name__}",
            EXIT_TEMPFAIL,
            args.log_format,
        )
    finally:
        client.close()


def _fail(message: str, status: int = EXIT_USAGE, log_format: str = "text") -> int:
    """One line on stderr; under ``--log-format json`` a ``cli.error`` event instead, so
    that stderr stays all JSON. Usage errors come before the format is known: text."""
    if log_format == "json":
        emit("cli.error", message, level=logging.ERROR, exit_code=status)
    else:
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
        restart=args.restart or (), await_release=args.await_release, handoff=args.handoff,
        release_timeout=args.release_timeout,
    )  # fmt: skip
    result = run_migration(client, keys, opts, Progress(echo=args.log_format != "json"))
    if args.json:
        print(json.dumps(result.as_dict(), sort_keys=True))
    return result.exit_code


def _reload(
    client: redis.Redis, keys: Keys, args: argparse.Namespace, command: list[str], url: str
) -> int:
    opts = ReloadOptions(
        command=command, close_for=args.close_for, await_release=args.await_release,
        timeout=args.timeout, hosts=tuple(dict.fromkeys(args.host)), ttl=args.ttl,
        redis_label=f"{redact_url(url)} (prefix {keys.prefix!r})",
    )  # fmt: skip
    result = reload(client, keys, opts, Progress(echo=args.log_format != "json"))
    if args.json:
        print(json.dumps(result.as_dict(), sort_keys=True))
    return result.exit_code


def _status(client: redis.Redis, keys: Keys, url: str, *, as_json: bool) -> int:
    status = read_status(client, keys)
    node = serving_node(client)  # the node that answered: a failover changes it
    if as_json:
        where = {"redis_url": redact_url(url), "prefix": keys.prefix, "node": node}
        print(json.dumps({**where, **status.as_dict()}, sort_keys=True))
        return 0
    ttl = f" (expires in {status.ttl:.1f}s)" if status.ttl else ""
    print(f"redis:     {redact_url(url)}  prefix {keys.prefix}")
    print(f"node:      {node}")
    print(
        f"state:     {status.state}{ttl}"
        + ("" if status.mode != "unknown" else "  (not a mode: the gates act on their fail_mode)")
    )
    for name, value in sorted(status.info.items()):
        print(f"  {name + ':':<12} {value[:200]}")
    if status.lock_holder:
        print(f"lock:      {status.lock_holder} (expires in {status.lock_ttl or 0:.1f}s)")
    if status.keepalive is not None:
        print(f"keepalive: {status.keepalive[:200]}  (gates close connections: a reload)")
    if status.handoff is not None:
        print(f"handoff:   {status.handoff[:200]}  (processes of other releases redirect to it)")
    groups = group_processes(status.processes)
    hosts = len({group["host"] for group in groups})
    print(f"processes: {len(status.processes)} on {hosts} host{'s' if hosts != 1 else ''}")
    by_id = {str(report["id"]): report for report in status.processes}
    for group in groups:
        release = group["release"] or "(release not set)"
        print(f"  {group['host']}  release {release}: {len(group['ids'])}")
        for proc_id in group["ids"]:
            report = by_id[proc_id]
            print(
                f"    {proc_id:<40} mode={report.get('mode', '?'):<11} "
                f"in-flight={report.get('inflight', '?'):<4} held={report.get('held', '?'):<5} "
                f"released={report.get('released_total', '?')}"
            )
    return 0  # fmt: skip
