"""``flask gatekeeper``: the argv it builds for ``gatekeeper.cli.main``, and the real CLI
driving the same gate the app obeys (real redis-server)."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from gatekeeper.contrib.flask import Gatekeeper, state_for
from gatekeeper.contrib.flask import cli as flask_cli
from gatekeeper.contrib.flask.cli import build_argv, default_migration
from gatekeeper.state.keys import Keys
from gatekeeper.testing import free_port
from tests.support.helpers import wait_for


@pytest.fixture
def make_app(redis_url: str, prefix: str) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def factory(migrations: bool = False) -> Flask:
        app = Flask("gated")
        app.config.update(GATEKEEPER_REDIS_URL=redis_url, GATEKEEPER_PREFIX=prefix)
        app.add_url_rule("/", "index", lambda: "hi")
        if migrations:
            app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
            db = SQLAlchemy(app)
            Migrate(app, db)
        Gatekeeper(app)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        state_for(app).gate.watcher.close()


@pytest.fixture
def forwarded(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Records the argv handed to ``gatekeeper.cli.main`` instead of running it."""
    calls: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        calls.append(list(argv))
        return 0

    monkeypatch.setattr(flask_cli, "gatekeeper_main", fake_main)
    return calls


def invoke(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["gatekeeper", *args])


# -- the argv, as a pure function --------------------------------------------------------


def test_build_argv_puts_connection_first_and_command_after_dashes() -> None:
    argv = build_argv(
        "run-migration",
        ["--mode", "readonly", "--json"],
        redis_url="redis://h:6379/1",
        prefix="shop",
        command=["flask", "db", "upgrade", "--sql"],
    )
    assert argv == [
        "--redis-url", "redis://h:6379/1", "--prefix", "shop",
        "run-migration", "--mode", "readonly", "--json",
        "--", "flask", "db", "upgrade", "--sql",
    ]  # fmt: skip


def test_build_argv_without_command_has_no_dashes() -> None:
    argv = build_argv("status", ["--json"], redis_url="redis://h", prefix="p")
    assert argv == ["--redis-url", "redis://h", "--prefix", "p", "status", "--json"]


def test_default_migration_uses_this_interpreter_and_repeats_app_path() -> None:
    command, check = default_migration("examples.app:create_app()")
    flask = [sys.executable, "-m", "flask", "--app", "examples.app:create_app()"]
    assert command == [*flask, "db", "upgrade"]
    assert shlex.split(check) == [*flask, "gatekeeper", "pending"]
    assert default_migration(None)[0] == [sys.executable, "-m", "flask", "db", "upgrade"]


# -- click's parsing, with the forwarding recorded ----------------------------------------


def test_run_migration_keeps_options_and_command_apart(
    make_app: Callable[..., Flask], forwarded: list[list[str]], redis_url: str, prefix: str
) -> None:
    result = invoke(
        make_app(), "run-migration", "--mode", "readonly", "--", "./migrate.sh", "--fast"
    )
    assert result.exit_code == 0, result.output
    assert forwarded == [
        ["--redis-url", redis_url, "--prefix", prefix, "run-migration", "--mode", "readonly",
         "--", "./migrate.sh", "--fast"],
    ]  # fmt: skip


def test_run_migration_passes_restart_and_handoff_to_the_runner(
    make_app: Callable[..., Flask], forwarded: list[list[str]]
) -> None:
    result = invoke(
        make_app(), "run-migration", "--restart", "kill -HUP 1234", "--await-release", "v2",
        "--handoff", "--release-timeout", "30", "--", "./migrate.sh",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (argv,) = forwarded
    assert argv[4:] == [
        "run-migration", "--restart", "kill -HUP 1234", "--await-release", "v2", "--handoff",
        "--release-timeout", "30", "--", "./migrate.sh",
    ]  # fmt: skip
    assert main_parser_accepts(argv)


def main_parser_accepts(argv: list[str]) -> bool:
    from gatekeeper._cli_parser import build_parser

    args = build_parser().parse_args(argv[: argv.index("--")])
    return bool(args.handoff and args.await_release == "v2" and args.restart)


def test_run_migration_defaults_to_flask_db_upgrade_with_pending_check(
    make_app: Callable[..., Flask], forwarded: list[list[str]]
) -> None:
    result = invoke(make_app(migrations=True), "run-migration", "--max-hold", "30")
    assert result.exit_code == 0, result.output
    command, check = default_migration(None)
    (argv,) = forwarded
    assert argv[4:] == ["run-migration", "--max-hold", "30", "--if-pending", check, "--", *command]


def test_run_migration_keeps_an_explicit_pending_check(
    make_app: Callable[..., Flask], forwarded: list[list[str]]
) -> None:
    result = invoke(make_app(migrations=True), "run-migration", "--if-pending=./check.sh")
    assert result.exit_code == 0, result.output
    (argv,) = forwarded
    assert argv.count("--if-pending=./check.sh") == 1
    assert "--if-pending" not in argv


def test_run_migration_without_command_or_flask_migrate_is_a_usage_error(
    make_app: Callable[..., Flask], forwarded: list[list[str]]
) -> None:
    result = invoke(make_app(), "run-migration")
    assert result.exit_code == 2
    assert "give the COMMAND after --" in result.output
    assert forwarded == []


def test_operator_command_passes_options_through(
    make_app: Callable[..., Flask], forwarded: list[list[str]]
) -> None:
    result = invoke(make_app(), "maintenance", "--message", "Back at 2", "--ttl", "60")
    assert result.exit_code == 0, result.output
    assert forwarded[0][4:] == ["maintenance", "--message", "Back at 2", "--ttl", "60"]


def test_forwarded_exit_status_becomes_the_commands(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flask_cli, "gatekeeper_main", lambda argv: 3)
    assert invoke(make_app(), "status").exit_code == 3


# -- the real CLI against the real Redis -------------------------------------------------


def test_operator_commands_drive_the_gate_the_app_obeys(
    make_app: Callable[..., Flask], r: redis.Redis, keys: Keys
) -> None:
    app = make_app()
    client = app.test_client()
    assert client.get("/").status_code == 200
    result = invoke(app, "maintenance", "--message", "Back soon", "--retry-after", "30")
    assert result.exit_code == 0, result.output
    assert r.get(keys.state) == "maintenance"
    assert r.hget(keys.info, "message") == "Back soon"
    wait_for(lambda: client.get("/").status_code == 503, what="the app to answer 503")

    status = invoke(app, "status", "--json")
    assert status.exit_code == 0, status.output
    report = json.loads(status.output)
    assert report["prefix"] == keys.prefix
    assert report["state"] == "maintenance"

    assert invoke(app, "open").exit_code == 0
    wait_for(lambda: client.get("/").status_code == 200, what="the app to answer 200")


def test_run_migration_runs_the_command_while_the_state_is_hold(
    make_app: Callable[..., Flask], r: redis.Redis, keys: Keys, redis_url: str, tmp_path: Path
) -> None:
    seen = tmp_path / "state-during-command"
    probe = (
        "import redis, sys; "
        "value = redis.Redis.from_url(sys.argv[1]).get(sys.argv[2]); "
        "open(sys.argv[3], 'wb').write(value)"
    )
    result = invoke(
        make_app(), "run-migration", "--json",
        "--", sys.executable, "-c", probe, redis_url, keys.state, str(seen),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen.read_text() == "hold"
    assert r.get(keys.state) in (None, "open")
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["outcome"] == "success"
    assert summary["gated"] is True


def test_unreachable_redis_exits_75_through_flask(prefix: str) -> None:
    app = Flask("unreachable")
    app.config.update(GATEKEEPER_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    app.config.update(GATEKEEPER_PREFIX=prefix, GATEKEEPER_CONNECT_TIMEOUT=0.2)
    Gatekeeper(app)
    try:
        result = invoke(app, "hold")
    finally:
        state_for(app).gate.watcher.close()
    assert result.exit_code == 75  # EX_TEMPFAIL: a deploy script may retry
    assert "cannot reach Redis" in result.output


def test_reload_keeps_options_and_restart_command_apart(
    make_app: Callable[..., Flask], forwarded: list[list[str]], redis_url: str, prefix: str
) -> None:
    result = invoke(
        make_app(), "reload", "--await-release", "abc123", "--host", "web-1", "--",
        "kill", "-HUP", "42",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert forwarded == [
        ["--redis-url", redis_url, "--prefix", prefix, "reload", "--await-release", "abc123",
         "--host", "web-1", "--", "kill", "-HUP", "42"],
    ]  # fmt: skip


def test_reload_without_command_is_a_usage_error(
    make_app: Callable[..., Flask], forwarded: list[list[str]]
) -> None:
    result = invoke(make_app(), "reload", "--close-for", "1")
    assert result.exit_code == 2
    assert "give the COMMAND after --" in result.output
    assert forwarded == []
