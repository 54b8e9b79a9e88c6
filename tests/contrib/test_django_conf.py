"""The Django settings shim and its system checks: names, precedence, ids, hints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.checks import Error
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import override_settings

from gatekeeper.contrib.django import GatekeeperMiddleware
from gatekeeper.contrib.django.checks import CHECKS, check_settings
from gatekeeper.contrib.django.conf import conf
from gatekeeper.options import OptionError, build_options, option_fields
from tests.contrib.django_support import APP_DIR, ROOT


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GATEKEEPER_"):
            monkeypatch.delenv(name)


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def test_no_settings_gives_the_defaults() -> None:
    assert conf.options == build_options({}, lookup=lambda name: None)
    assert conf.source("hold_timeout") == "the default"


def test_django_setting_is_read_by_its_upper_case_name() -> None:
    with override_settings(GATEKEEPER_HOLD_TIMEOUT=3, GATEKEEPER_HEALTH_PATHS=["/up", "/ready"]):
        assert conf.options.hold_timeout == 3.0
        assert conf.options.health_paths == ("/up", "/ready")
        assert conf.source("hold_timeout") == "settings.GATEKEEPER_HOLD_TIMEOUT"


def test_environment_is_the_fallback_and_the_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_PREFIX", "from-env")
    assert conf.prefix == "from-env"
    assert conf.source("prefix") == "the environment"
    with override_settings(GATEKEEPER_PREFIX="from-settings"):
        assert conf.prefix == "from-settings"


def test_setting_set_to_none_falls_through_to_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEKEEPER_RETRY_AFTER", "42")
    with override_settings(GATEKEEPER_RETRY_AFTER=None):
        assert conf.options.retry_after == 42


def test_shim_never_writes_into_django_settings() -> None:
    from django.conf import settings

    before = {name for name in dir(settings) if name.startswith("GATEKEEPER_")}
    conf.options  # noqa: B018 - read for its side effects, of which there must be none
    check_settings(None)
    assert {name for name in dir(settings) if name.startswith("GATEKEEPER_")} == before


def test_check_table_covers_every_option_with_unique_ids() -> None:
    assert list(CHECKS) == option_fields()
    ids = [check_id for check_id, _ in CHECKS.values()]
    assert len(set(ids)) == len(ids)
    assert ids[:3] == ["gatekeeper.E001", "gatekeeper.E002", "gatekeeper.E003"]


def test_good_settings_pass_the_checks() -> None:
    with override_settings(GATEKEEPER_HOLD_TIMEOUT=5, GATEKEEPER_EXEMPT_PATHS="/static/"):
        assert check_settings(None) == []


@pytest.mark.parametrize(
    ("setting", "value", "check_id"),
    [
        pytest.param("GATEKEEPER_REDIS_URL", "http://x", "gatekeeper.E001", id="redis-url"),
        pytest.param("GATEKEEPER_HOLD_TIMEOUT", "soon", "gatekeeper.E003", id="hold-timeout"),
        pytest.param("GATEKEEPER_FAIL_MODE", "sideways", "gatekeeper.E008", id="fail-mode"),
        pytest.param("GATEKEEPER_EXEMPT_NETWORKS", ["10.0.0.0/33"], "gatekeeper.E012", id="cidr"),
        pytest.param("GATEKEEPER_BYPASS_SECRET", "short", "gatekeeper.E014", id="secret"),
        pytest.param("GATEKEEPER_API_PREFIXES", "/healthz", "gatekeeper.E022", id="overlap"),
    ],
)
def test_bad_setting_becomes_an_error_with_its_id(
    setting: str, value: object, check_id: str
) -> None:
    with override_settings(**{setting: value}):
        messages = check_settings(None)
        with pytest.raises(ImproperlyConfigured) as info:
            GatekeeperMiddleware(ok)
    assert [(type(m), m.id) for m in messages] == [(Error, check_id)]
    assert messages[0].msg == str(info.value)
    assert setting in messages[0].msg
    assert "\n" not in messages[0].msg
    assert str(messages[0].hint).startswith(f"The value comes from settings.{setting}; expected ")


def test_every_bad_setting_is_reported_not_only_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_MAX_HELD", "lots")
    with override_settings(GATEKEEPER_HOLD_TIMEOUT=-1, GATEKEEPER_RETRY_AFTER=0):
        ids = [message.id for message in check_settings(None)]
        hint = check_settings(None)[1].hint
    assert ids == ["gatekeeper.E003", "gatekeeper.E004", "gatekeeper.E020"]
    assert str(hint).startswith("The value comes from the environment")


def test_bad_secret_is_not_echoed_by_the_check() -> None:
    with override_settings(GATEKEEPER_BYPASS_SECRET="has spaces, not url-safe!"):
        (message,) = check_settings(None)
    assert "has spaces" not in message.msg
    assert "has spaces" not in (message.hint or "")


def test_unknown_setting_warns_with_a_suggestion() -> None:
    with override_settings(GATEKEEPER_HOLD_TIMOUT=5):
        (message,) = check_settings(None)
    assert isinstance(message, CheckWarning)
    assert message.id == "gatekeeper.W001"
    assert message.hint == "Did you mean GATEKEEPER_HOLD_TIMEOUT?"


def test_middleware_not_first_warns() -> None:
    middleware = [
        "django.middleware.common.CommonMiddleware",
        "gatekeeper.contrib.django.GatekeeperMiddleware",
    ]
    with override_settings(MIDDLEWARE=middleware):
        assert [m.id for m in check_settings(None)] == ["gatekeeper.W002"]


def test_unloadable_template_warns(tmp_path: Path) -> None:
    engine = {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": False}
    with override_settings(TEMPLATES=[engine]):
        assert [m.id for m in check_settings(None)] == ["gatekeeper.W003"]
    (tmp_path / "gatekeeper").mkdir()
    (tmp_path / "gatekeeper" / "maintenance.html").write_text("{% if %}")
    with override_settings(TEMPLATES=[{**engine, "DIRS": [str(tmp_path)]}]):
        (message,) = check_settings(None)
    assert "TemplateSyntaxError" in message.msg
    with override_settings(TEMPLATES=[]):
        assert check_settings(None) == []


def test_option_error_keeps_option_and_problem() -> None:
    with override_settings(GATEKEEPER_HOLD_TIMEOUT="soon"):
        (problem,) = conf.problems()
    assert isinstance(problem, OptionError)
    assert (problem.option, problem.problem) == ("hold_timeout", "expected a number, got 'soon'")


def manage_check(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=APP_DIR,
        env={**clean, "PYTHONPATH": str(ROOT), "DATABASE_URL": "sqlite:///:memory:", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_manage_py_check_reports_bad_settings_by_id() -> None:
    result = manage_check(GATEKEEPER_HOLD_TIMEOUT="soon", GATEKEEPER_FAIL_MODE="sideways")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "(gatekeeper.E003) gatekeeper option hold_timeout" in result.stderr
    assert "(gatekeeper.E008) gatekeeper option fail_mode" in result.stderr
    assert "HINT: The value comes from the environment" in result.stderr


def test_manage_py_check_passes_with_good_settings() -> None:
    result = manage_check(GATEKEEPER_HOLD_TIMEOUT="12")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
