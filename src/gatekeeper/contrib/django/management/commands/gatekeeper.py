"""``manage.py gatekeeper``: the ``gatekeeper`` CLI with the project's Redis URL and prefix.

::

    python manage.py gatekeeper run-migration [--max-hold 30] [migrate arguments]
    python manage.py gatekeeper run-migration --restart "kill -HUP 1234" \
        --await-release v2 --handoff
    python manage.py gatekeeper reload [--await-release R] -- kill -HUP <master pid>
    python manage.py gatekeeper hold|readonly|maintenance [--ttl S] [--message TEXT]
    python manage.py gatekeeper open
    python manage.py gatekeeper status [--json]

Every form calls :func:`gatekeeper.cli.main` with ``--redis-url`` and ``--prefix`` from
the ``GATEKEEPER_*`` settings (or ``--redis-url``/``--prefix`` given before the
subcommand). ``run-migration`` runs ``manage.py migrate`` under the runner, gated only
if ``manage.py migrate --check`` (same arguments) says something is pending. Runner
options are picked out of the arguments by name; everything else, and everything after
``--``, goes to ``migrate``.

The command skips Django's system checks: an operator must be able to open the gate even
while some unrelated setting is broken.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gatekeeper.cli import main as cli_main
from gatekeeper.contrib.django.conf import conf
from gatekeeper.options import OptionError

__all__ = ["Command", "build_argv", "manage_command", "split_runner_args"]

RUNNER_OPTIONS = frozenset(
    {
        "--mode",
        "--ttl",
        "--max-hold",
        "--drain-timeout",
        "--on-failure",
        "--message",
        "--retry-after",
        "--min-processes",
        "--expect-host",
        "--restart",
        "--await-release",
        "--release-timeout",
    }
)
"""``run-migration`` options that take a value (``--if-pending`` is handled apart)."""
RUNNER_FLAGS = frozenset(
    {"--strict-drain", "--allow-ungated", "--handoff", "--json", "-h", "--help"}
)


def split_runner_args(args: Sequence[str]) -> tuple[list[str], list[str], str | None]:
    """``(runner options, migrate arguments, --if-pending value or None)``."""
    runner: list[str] = []
    migrate: list[str] = []
    if_pending: str | None = None
    items = iter(args)
    for arg in items:
        if arg == "--":
            migrate.extend(items)
            break
        name, equals, value = arg.partition("=")
        if name in RUNNER_OPTIONS or name == "--if-pending":
            if not equals:
                following = next(items, None)
                if following is None:
                    raise CommandError(f"{name} needs a value")
                value = following
            if name == "--if-pending":
                if_pending = value
            else:
                runner += [name, value]
        elif arg in RUNNER_FLAGS:
            runner.append(arg)
        else:
            migrate.append(arg)
    return runner, migrate, if_pending


def build_argv(
    args: Sequence[str], *, redis_url: str, prefix: str, manage: Sequence[str]
) -> list[str]:
    """The argv for :func:`gatekeeper.cli.main`; ``manage`` runs manage.py, e.g.
    ``[sys.executable, "/srv/app/manage.py"]``."""
    if not args:
        raise CommandError(
            "give a subcommand: run-migration, reload, hold, readonly, maintenance, open or status"
        )
    base = ["--redis-url", redis_url, "--prefix", prefix]
    command, rest = args[0], list(args[1:])
    if command != "run-migration":
        return [*base, command, *rest]
    runner, migrate, if_pending = split_runner_args(rest)
    if if_pending is None:
        # The same arguments: `migrate app 0001 --check` asks about that target only.
        if_pending = shlex.join([*manage, "migrate", "--check", *migrate])
    return [
        *base,
        "run-migration",
        "--if-pending",
        if_pending,
        *runner,
        "--",
        *manage,
        "migrate",
        *migrate,
    ]


def manage_command(argv0: str, base_dir: object, python: str) -> list[str]:
    """How to run this project's manage.py again, by absolute path.

    The script that is running (``python manage.py ...``), else ``BASE_DIR/manage.py``,
    else ``python -m django`` (which finds the project through DJANGO_SETTINGS_MODULE).
    """
    candidates = [Path(argv0)] if Path(argv0).name == "manage.py" else []
    if base_dir is not None:
        candidates.append(Path(str(base_dir)) / "manage.py")
    for candidate in candidates:
        if candidate.is_file():
            return [python, str(candidate.resolve())]
    return [python, "-m", "django"]


class Command(BaseCommand):
    help = "Hold, open or inspect the gate, or run migrate under the gatekeeper runner."
    requires_system_checks: tuple[str, ...] = ()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--redis-url", help="default: GATEKEEPER_REDIS_URL")
        parser.add_argument("--prefix", help="default: GATEKEEPER_PREFIX")
        parser.add_argument(
            "args",
            nargs=argparse.REMAINDER,
            metavar="SUBCOMMAND ...",
            help="run-migration, reload, hold, readonly, maintenance, open or status",
        )

    def handle(self, *args: str, **options: Any) -> None:
        try:
            redis_url = options["redis_url"] or conf.redis_url
            prefix = options["prefix"] or conf.prefix
        except OptionError as exc:
            raise CommandError(str(exc)) from None
        manage = manage_command(
            sys.argv[0] if sys.argv else "", getattr(settings, "BASE_DIR", None), sys.executable
        )
        argv = build_argv(args, redis_url=redis_url, prefix=prefix, manage=manage)
        code = int(cli_main(argv) or 0)
        if code:
            # The exit status matters to deploy scripts: pass it on without a traceback.
            raise SystemExit(code)
