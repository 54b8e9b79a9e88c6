"""Masking credentials in text and in a COMMAND's argv, before they reach a log line."""

from __future__ import annotations

import pytest

from gatekeeper._masking import mask_argv, mask_text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        pytest.param("postgres://user:hunter2@db/x", "postgres://user:***@db/x", id="url"),
        pytest.param("redis://:pw@h:6379/0", "redis://:***@h:6379/0", id="empty-user"),
        pytest.param("redis://s3cret@h/0", "redis://***@h/0", id="bare-userinfo"),
        pytest.param("mysql://u:p@ss@h/db", "mysql://u:***@h/db", id="at-in-password"),
        pytest.param("redis://h/0?password=pw&db=1", "redis://h/0?password=***&db=1", id="query"),
        pytest.param("--password=x", "--password=***", id="flag"),
        pytest.param("--db-password=x y", "--db-password=*** y", id="flag-prefix"),
        pytest.param("--api-key=abc", "--api-key=***", id="api-key"),
        pytest.param("PGPASSWORD=pw", "PGPASSWORD=***", id="env"),
        pytest.param(
            "psql postgres://a:b@h/d && migrate --token=t",
            "psql postgres://a:***@h/d && migrate --token=***",
            id="shell-line",
        ),
    ],
)
def test_text_with_a_credential_is_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "python manage.py migrate --noinput",
        "https://example.com/path?page=2",
        "user@example.com",
        "--passes=3",
        "alembic upgrade head",
    ],
)
def test_text_without_a_credential_is_unchanged(text: str) -> None:
    assert mask_text(text) == text


def test_argv_flag_followed_by_its_value_masks_the_value_only() -> None:
    argv = ["tool", "--password", "hunter2", "--host", "db", "--token", "t0k", "run"]
    assert mask_argv(argv) == ["tool", "--password", "***", "--host", "db", "--token", "***", "run"]


def test_argv_with_urls_masks_each_argument() -> None:
    argv = ["sh", "-c", "psql postgres://user:hunter2@db/x -c 'select 1'"]
    assert mask_argv(argv) == ["sh", "-c", "psql postgres://user:***@db/x -c 'select 1'"]


def test_argv_secret_flag_last_masks_nothing_after_it() -> None:
    assert mask_argv(["tool", "--password"]) == ["tool", "--password"]
