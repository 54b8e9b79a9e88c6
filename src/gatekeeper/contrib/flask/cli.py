"""``flask gatekeeper``: the ``gatekeeper`` command, configured from the Flask app.

::

    flask gatekeeper run-migration                 # flask db upgrade, held, if pending
    flask gatekeeper run-migration --mode readonly -- flask db upgrade
    flask gatekeeper reload --await-release "$GIT_SHA" -- kill -HUP "$MASTER_PID"
    flask gatekeeper maintenance --message "Back at 14:00" --ttl 3600
    flask gatekeeper open
    flask gatekeeper status [--json]
    flask gatekeeper pending                       # exit 0: up to date, 1: pending

Every subcommand but ``pending`` forwards to :func:`gatekeeper.cli.main`, with
``--redis-url`` and ``--prefix`` taken from the app's gate (keyword, ``app.config``,
environment, default: the same values the app's middleware uses, so the command drives
the gate the app obeys). The other options are passed through untouched; see
``gatekeeper <subcommand> --help``.

Without a COMMAND, on an app with Flask-Migrate, ``run-migration`` runs
``flask db upgrade`` with ``--if-pending "flask gatekeeper pending"``: when the database
is already at head, the upgrade runs without holding any traffic.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

import click
from flask import current_app
from flask.cli import AppGroup, ScriptInfo

from gatekeeper.contrib.flask._state import state_for

__all__ = ["build_argv", "default_migration", "gatekeeper_group"]

OPERATOR_COMMANDS = {
    "hold": "Hold requests until the gate opens (or their deadline).",
    "readonly": "Let reads through; hold writes.",
    "maintenance": "Answer every request with the 503 page.",
    "open": "Let every request through.",
    "status": "Show the state, the runner's lock and the live processes.",
}


def gatekeeper_main(argv: list[str]) -> int:
    """:func:`gatekeeper.cli.main`, imported when a command runs: every Flask process
    registers these commands, and a web process must never import the runner."""
    from gatekeeper.cli import main

    return main(argv)


_PASS_THROUGH = {"ignore_unknown_options": True}
_COMMAND_KEY = "gatekeeper.command"


def build_argv(
    subcommand: str,
    args: Sequence[str],
    *,
    redis_url: str,
    prefix: str,
    command: Sequence[str] = (),
) -> list[str]:
    """The ``gatekeeper`` argv for one ``flask gatekeeper`` invocation."""
    argv = ["--redis-url", redis_url, "--prefix", prefix, subcommand, *args]
    if command:
        argv += ["--", *command]
    return argv


def default_migration(app_import_path: str | None) -> tuple[list[str], str]:
    """``flask db upgrade`` and its pending check, for the app this CLI loaded.

    ``sys.executable -m flask`` rather than ``flask``: the same interpreter and venv
    even when the venv's ``bin`` is not on ``PATH``. ``--app`` is repeated when it was
    given on the command line; ``FLASK_APP`` reaches the child through the environment.
    """
    flask = [sys.executable, "-m", "flask"]
    if app_import_path:
        flask += ["--app", app_import_path]
    return [*flask, "db", "upgrade"], shlex.join([*flask, "gatekeeper", "pending"])


class _SplitCommand(click.Command):
    """Sets aside what follows ``--`` before click parses the rest.

    click drops the ``--`` itself while parsing, which would merge the runner's options
    and the migration COMMAND into one list with no way to tell them apart again.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            split = args.index("--")
            ctx.meta[_COMMAND_KEY] = args[split + 1 :]
            args = args[:split]
        return super().parse_args(ctx, args)


def _forward(subcommand: str, args: Sequence[str], command: Sequence[str] = ()) -> None:
    options = state_for(current_app).options
    argv = build_argv(
        subcommand, args, redis_url=options.redis_url, prefix=options.prefix, command=command
    )
    click.get_current_context().exit(gatekeeper_main(argv))


@click.group("gatekeeper", cls=AppGroup)
def gatekeeper_group() -> None:
    """Hold traffic around a migration, or drive the gate by hand."""


@gatekeeper_group.command("run-migration", cls=_SplitCommand, context_settings=_PASS_THROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_migration(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Run COMMAND (after --) while requests are held.

    Accepts every option of `gatekeeper run-migration` (--mode, --ttl, --max-hold,
    --drain-timeout, --strict-drain, --min-processes, --expect-host, --on-failure,
    --if-pending, --allow-ungated, --message, --retry-after, --restart,
    --await-release, --handoff, --release-timeout, --json). Without a COMMAND,
    on an app with Flask-Migrate: `flask db upgrade`, checked first with
    `flask gatekeeper pending`.
    """
    command: list[str] = list(ctx.meta.get(_COMMAND_KEY, []))
    extra: list[str] = []
    if not command:
        if "migrate" not in current_app.extensions:
            raise click.UsageError(
                "give the COMMAND after --: this app has no Flask-Migrate to default to"
            )
        script_info = ctx.find_object(ScriptInfo)
        command, check = default_migration(script_info.app_import_path if script_info else None)
        if not any(arg == "--if-pending" or arg.startswith("--if-pending=") for arg in args):
            extra = ["--if-pending", check]
    _forward("run-migration", [*args, *extra], command)


@gatekeeper_group.command("reload", cls=_SplitCommand, context_settings=_PASS_THROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def reload_command(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Run COMMAND (after --), a restart, with keep-alive off on the gates first.

    Accepts every option of `gatekeeper reload` (--close-for, --await-release, --timeout,
    --host, --ttl, --json).
    """
    command: list[str] = list(ctx.meta.get(_COMMAND_KEY, []))
    if not command:
        raise click.UsageError("give the COMMAND after --, e.g. -- kill -HUP <master pid>")
    _forward("reload", args, command)


def _operator_command(name: str, summary: str) -> click.Command:
    def callback(args: tuple[str, ...]) -> None:
        _forward(name, args)

    callback.__doc__ = f"{summary} Options as for `gatekeeper {name}`."
    decorated = click.argument("args", nargs=-1, type=click.UNPROCESSED)(callback)
    return gatekeeper_group.command(name, context_settings=_PASS_THROUGH)(decorated)


for _name, _summary in OPERATOR_COMMANDS.items():
    _operator_command(_name, _summary)


@gatekeeper_group.command("pending")
@click.option("-d", "--directory", default=None, help="migrations directory (Flask-Migrate's)")
def pending(directory: str | None) -> None:
    """Exit 0 when the database is at head, 1 when migrations are pending."""
    try:
        # Imported here: only this command reads migrations (Alembic's import is heavy).
        from gatekeeper.contrib.flask.pending import database_revisions

        revisions = database_revisions(current_app, directory)
    except RuntimeError as exc:
        click.echo(f"gatekeeper: error: {exc}", err=True)
        click.get_current_context().exit(2)
    # stderr: a runner's stdout may be the JSON summary of `run-migration --json`.
    click.echo(revisions.describe(), err=True)
    click.get_current_context().exit(1 if revisions.pending else 0)
