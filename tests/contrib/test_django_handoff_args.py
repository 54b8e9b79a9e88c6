"""``manage.py gatekeeper run-migration``: ``--restart``, ``--await-release``, ``--handoff``
and ``--release-timeout`` go to the runner, not to ``migrate``."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from gatekeeper._cli_parser import build_parser
from gatekeeper.contrib.django.management.commands.gatekeeper import (
    build_argv,
    split_runner_args,
)
from tests.contrib import django_support  # noqa: F401 - configures Django for call_command

MANAGE = ["/venv/bin/python", "/srv/app/manage.py"]
UNREACHABLE = "redis://127.0.0.1:1/0"


def test_handoff_options_go_to_runner_and_the_rest_to_migrate() -> None:
    runner, migrate, if_pending = split_runner_args(
        [
            "notes", "--restart", "kill -HUP 1234", "--await-release=v2", "0002",
            "--handoff", "--release-timeout", "90", "--database", "other",
        ]
    )  # fmt: skip
    assert runner == [
        "--restart", "kill -HUP 1234", "--await-release", "v2", "--handoff",
        "--release-timeout", "90",
    ]  # fmt: skip
    assert migrate == ["notes", "0002", "--database", "other"]
    assert if_pending is None


def test_restart_given_with_equals_keeps_its_spaces() -> None:
    runner, migrate, _ = split_runner_args(["--restart=systemctl reload app", "--handoff"])
    assert runner == ["--restart", "systemctl reload app", "--handoff"]
    assert migrate == []


def test_handoff_options_after_double_dash_go_to_migrate() -> None:
    runner, migrate, _ = split_runner_args(["--json", "--", "--handoff", "--restart", "x"])
    assert runner == ["--json"]
    assert migrate == ["--handoff", "--restart", "x"]


@pytest.mark.parametrize("option", ["--restart", "--await-release", "--release-timeout"])
def test_handoff_option_without_its_value_is_a_command_error(option: str) -> None:
    with pytest.raises(CommandError, match=f"{option} needs a value"):
        split_runner_args(["notes", option])


def test_built_argv_puts_handoff_options_before_migrate_and_the_cli_accepts_them() -> None:
    argv = build_argv(
        [
            "run-migration", "--restart", "kill -HUP 1234", "--await-release", "v2",
            "--handoff", "--release-timeout", "90", "notes",
        ],
        redis_url="redis://r:6379/1", prefix="site", manage=MANAGE,
    )  # fmt: skip
    split = argv.index("--")
    assert argv[split + 1 :] == [*MANAGE, "migrate", "notes"]
    check = argv[argv.index("--if-pending") + 1]
    assert check == "/venv/bin/python /srv/app/manage.py migrate --check notes"
    args = build_parser().parse_args(argv[:split])
    assert args.restart == ("kill", "-HUP", "1234")
    assert (args.await_release, args.handoff, args.release_timeout) == ("v2", True, 90.0)


def test_manage_py_handoff_without_await_release_exits_2_before_redis(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Had --handoff gone to migrate, the runner would have tried Redis: 75, not 2.
    with (
        override_settings(GATEKEEPER_REDIS_URL=UNREACHABLE),
        pytest.raises(SystemExit) as info,
    ):
        call_command("gatekeeper", "run-migration", "--handoff", "notes")
    assert info.value.code == 2
    assert "--await-release" in capsys.readouterr().err
