"""``manage.py gatekeeper``: the argv it hands to gatekeeper.cli.main, and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.core.management import CommandError, call_command
from django.test import override_settings

from gatekeeper.contrib.django.management.commands.gatekeeper import (
    build_argv,
    manage_command,
    split_runner_args,
)
from gatekeeper.state.keys import Keys
from gatekeeper.testing import free_port
from tests.contrib.django_support import APP_DIR, ROOT

MANAGE = ["/venv/bin/python", "/srv/app/manage.py"]
BASE = ["--redis-url", "redis://r:6379/1", "--prefix", "site"]


def argv(*args: str) -> list[str]:
    return build_argv(args, redis_url="redis://r:6379/1", prefix="site", manage=MANAGE)


def test_run_migration_runs_migrate_only_if_pending() -> None:
    assert argv("run-migration") == [
        *BASE,
        "run-migration",
        "--if-pending",
        "/venv/bin/python /srv/app/manage.py migrate --check",
        "--",
        *MANAGE,
        "migrate",
    ]


def test_runner_options_and_migrate_arguments_are_told_apart() -> None:
    result = argv(
        "run-migration", "--max-hold", "30", "notes", "--json", "0002", "--mode=readonly",
        "--database", "other", "--strict-drain", "--", "--fake",
    )  # fmt: skip
    check = "/venv/bin/python /srv/app/manage.py migrate --check notes 0002 --database other --fake"
    assert result == [
        *BASE,
        "run-migration",
        "--if-pending", check,
        "--max-hold", "30", "--json", "--mode", "readonly", "--strict-drain",
        "--",
        *MANAGE, "migrate", "notes", "0002", "--database", "other", "--fake",
    ]  # fmt: skip


def test_process_requirements_go_to_the_runner_not_migrate() -> None:
    runner, migrate, _ = split_runner_args(
        ["--min-processes", "4", "notes", "--expect-host=web1", "--expect-host", "web2"]
    )
    assert runner == [
        "--min-processes", "4", "--expect-host", "web1", "--expect-host", "web2"
    ]  # fmt: skip
    assert migrate == ["notes"]


def test_own_if_pending_replaces_the_default_check() -> None:
    result = argv("run-migration", "--if-pending", "false")
    assert result[result.index("--if-pending") + 1] == "false"
    assert result.count("--if-pending") == 1


def test_option_without_its_value_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="--max-hold needs a value"):
        split_runner_args(["--max-hold"])


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["hold", "--ttl", "60", "--message", "Back soon"], id="hold"),
        pytest.param(["maintenance", "--retry-after", "30"], id="maintenance"),
        pytest.param(["open"], id="open"),
        pytest.param(["status", "--json"], id="status"),
        pytest.param(["reload", "--await-release", "v2", "--", "kill", "-HUP", "42"], id="reload"),
    ],
)
def test_operator_commands_pass_straight_through(args: list[str]) -> None:
    assert argv(*args) == [*BASE, *args]


def test_no_subcommand_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="give a subcommand"):
        argv()


def test_manage_py_is_found_by_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "manage.py").write_text("")
    script = str(tmp_path / "manage.py")
    assert manage_command(script, None, "py") == ["py", script]
    assert manage_command("/usr/bin/django-admin", tmp_path, "py") == ["py", script]
    assert manage_command("/usr/bin/django-admin", None, "py") == ["py", "-m", "django"]


def test_command_uses_the_settings_redis_url_and_prefix(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys
) -> None:
    with override_settings(GATEKEEPER_REDIS_URL=redis_url, GATEKEEPER_PREFIX=prefix):
        call_command("gatekeeper", "maintenance", "--message", "Upgrading")
    assert r.get(keys.state) == "maintenance"
    assert r.hget(keys.info, "message") == "Upgrading"


def test_failing_cli_exit_status_is_passed_on() -> None:
    with (
        override_settings(GATEKEEPER_REDIS_URL="redis://127.0.0.1:9/0"),
        pytest.raises(SystemExit) as info,
    ):
        call_command("gatekeeper", "hold", "--ttl", "nonsense")
    assert info.value.code == 2


def test_unreachable_redis_exit_status_75_is_passed_on() -> None:
    with (
        override_settings(GATEKEEPER_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"),
        pytest.raises(SystemExit) as info,
    ):
        call_command("gatekeeper", "open")
    assert info.value.code == 75  # EX_TEMPFAIL: a deploy script may retry


def test_manage_py_gatekeeper_run_migration_end_to_end(
    redis_url: str, prefix: str, r: redis.Redis, keys: Keys, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")},
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "NOTES_SEED_ROWS": "50",
        "GATEKEEPER_REDIS_URL": redis_url,
        "GATEKEEPER_PREFIX": prefix,
    }

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    assert manage("migrate", "notes", "0001").returncode == 0
    done = manage("gatekeeper", "run-migration", "--json", "--drain-timeout", "1")
    assert done.returncode == 0, done.stderr
    assert "Applying notes.0002_note_words... OK" in done.stdout
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["pending"], summary["gated"]) == (True, True)
    again = manage("gatekeeper", "run-migration", "--json")  # `migrate --check` now exits 0
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["pending"] is False
    assert r.get(keys.state) in (None, "open")
