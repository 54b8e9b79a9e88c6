"""Options: validated once, errors name the option, environment fallback, no secret echoed."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import fields
from typing import get_args, get_type_hints

import pytest

from gatekeeper import OptionError, build_options
from gatekeeper._parsers import redact_url
from gatekeeper.options import (
    OPTION_NAMES,
    OPTIONS,
    FailMode,
    GateOptions,
    HandoffApi,
    Option,
    ReadonlyWrites,
    parse_option,
)


def no_env(name: str) -> None:
    return None


def test_defaults_are_sane() -> None:
    options = build_options({}, lookup=no_env)
    assert options.redis_url == "redis://localhost:6379/0"
    assert options.prefix == "gatekeeper"
    assert 0 < options.hold_timeout < 30
    assert options.health_paths == ("/healthz",)
    assert options.fail_mode == "open"


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        pytest.param("hold_timeout", -1, "must be > 0", id="negative-timeout"),
        pytest.param("hold_timeout", "soon", "expected a number", id="text-timeout"),
        pytest.param("hold_timeout", float("nan"), "finite", id="nan-timeout"),
        pytest.param("max_held", 1.5, "whole number", id="fractional-cap"),
        pytest.param("max_held", True, "boolean", id="bool-cap"),
        pytest.param("poll_interval", 0, ">= 0.05", id="zero-poll"),
        pytest.param("redis_url", "http://x", "not a Redis URL", id="http-url"),
        pytest.param("redis_url", "", "expected a Redis URL (redis://", id="empty-url"),
        pytest.param("exempt_networks", "10.0.0.0/33", "not an address", id="bad-cidr"),
        pytest.param("trusted_proxies", ["nonsense"], "not an address", id="bad-proxy"),
        pytest.param("exempt_paths", "healthz", "must start with '/'", id="relative-path"),
        pytest.param("health_paths", "/a b", "not a plain URL path", id="space-in-path"),
        pytest.param("fail_mode", "sideways", "expected one of open, closed", id="fail-mode"),
        pytest.param("readonly_writes", "drop", "expected one of hold, reject", id="ro-writes"),
        pytest.param("bypass_header", "Bad Header", "not a valid header", id="header-space"),
        pytest.param("prefix", "has space", "does not match", id="prefix-space"),
        pytest.param("retry_after", 0, ">= 1", id="zero-retry"),
        pytest.param("template", "/nonexistent/page.html", "cannot read", id="missing-template"),
        pytest.param("hold_timout", 5, "did you mean hold_timeout", id="typo-suggestion"),
    ],
)
def test_bad_option_names_the_option(option: str, value: object, fragment: str) -> None:
    with pytest.raises(OptionError) as info:
        build_options({option: value}, lookup=no_env)
    message = str(info.value)
    assert message.startswith(f"gatekeeper option {option} (GATEKEEPER_{option.upper()})")
    assert fragment in message
    assert "\n" not in message


def test_bad_secret_is_not_echoed() -> None:
    with pytest.raises(OptionError) as info:
        build_options({"bypass_secret": "short secret!"}, lookup=no_env)
    assert "short secret!" not in str(info.value)
    assert info.value.option == "bypass_secret"


def test_password_in_bad_url_is_not_echoed() -> None:
    with pytest.raises(OptionError) as info:
        build_options({"redis_url": "http://user:hunter2@host/0"}, lookup=no_env)
    assert "hunter2" not in str(info.value)


def test_environment_fills_missing_keywords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_HOLD_TIMEOUT", "7.5")
    monkeypatch.setenv("GATEKEEPER_EXEMPT_NETWORKS", "10.0.0.0/8, 192.168.1.1")
    monkeypatch.setenv("GATEKEEPER_PREFIX", "fromenv")
    options = build_options({"prefix": "fromkw"})
    assert options.hold_timeout == 7.5
    assert options.prefix == "fromkw"
    assert options.exempt_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.1/32"),
    )


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEKEEPER_MAX_HELD", "lots")
    with pytest.raises(OptionError, match=r"GATEKEEPER_MAX_HELD"):
        build_options({})


def test_secret_not_in_repr() -> None:
    options = build_options({"bypass_secret": "a" * 24}, lookup=no_env)
    assert "a" * 24 not in repr(options)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("redis://localhost:6379/0", "redis://localhost:6379/0", id="plain"),
        pytest.param("redis://:pw@h:1/0", "redis://:***@h:1/0", id="password-only"),
        pytest.param("rediss://user:pw@h:1/0", "rediss://user:***@h:1/0", id="user-password"),
        pytest.param("redis://pw@h/0", "redis://***@h/0", id="bare-userinfo"),
        pytest.param(
            "unix:///s.sock?password=pw&db=1", "unix:///s.sock?password=***&db=1", id="qs"
        ),
    ],
)
def test_redact_url_hides_passwords(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_every_field_but_the_template_text_is_in_the_table() -> None:
    not_options = [f.name for f in fields(GateOptions) if f.name not in OPTION_NAMES]
    assert not_options == ["template_text"]
    assert list(OPTION_NAMES) == [f.name for f in fields(GateOptions) if f.name in OPTION_NAMES]


def test_table_defaults_are_the_value_objects_defaults() -> None:
    built = build_options({}, lookup=no_env)
    assert {row.name: row.default for row in OPTIONS} == {
        name: getattr(built, name) for name in OPTION_NAMES
    }


@pytest.mark.parametrize(
    "row", [r for r in OPTIONS if r.default is not None], ids=lambda row: row.name
)
def test_default_given_as_keyword_passes_its_own_parser(row: Option) -> None:
    assert row.parse(row.name, row.default) == row.default


@pytest.mark.parametrize(
    "row", [r for r in OPTIONS if r.default_doc.startswith("`")], ids=lambda row: row.name
)
def test_documented_default_set_as_environment_value_gives_the_default(row: Option) -> None:
    # The README's default cell is what one would put in GATEKEEPER_<NAME>.
    assert row.default_doc.count("`") == 2
    assert row.default_doc.endswith("`")
    assert row.parse(row.name, row.default_doc.strip("`")) == row.default


@pytest.mark.parametrize(
    ("name", "alias"),
    [("fail_mode", FailMode), ("readonly_writes", ReadonlyWrites), ("handoff_api", HandoffApi)],
)
def test_choice_option_accepts_exactly_the_values_of_its_literal_type(
    name: str, alias: object
) -> None:
    assert get_type_hints(GateOptions)[name] == alias
    for value in get_args(alias):
        assert parse_option(name, value.upper()) == value
    with pytest.raises(OptionError, match=f"expected one of {', '.join(get_args(alias))}, got"):
        parse_option(name, "neither")


def test_bounds_and_choices_in_errors_are_worded_as_the_expected_text() -> None:
    # A value out of every number's bounds and no option's choice: where the error names
    # the bounds or the choices, the Django hint's expected text must say the same.
    checked = []
    for row in OPTIONS:
        try:
            row.parse(row.name, "1e12")
        except OptionError as exc:
            problem = exc.problem
        else:
            continue
        if problem.startswith("must be "):
            # up to what follows the rule: the value ("got ..."), or advice ("; try ...")
            assert re.split(r", got |; ", problem.removeprefix("must be "))[0] in row.expected
            checked.append(row.name)
        elif problem.startswith("expected one of "):
            assert problem.removeprefix("expected ").split(", got")[0] == row.expected
            checked.append(row.name)
    # The other options (URLs, paths, secrets) word their rules by hand.
    assert {"hold_timeout", "retry_after", "max_held_writes", "fail_mode"} <= set(checked)


def test_parse_option_fails_as_build_options_does() -> None:
    with pytest.raises(OptionError) as alone:
        parse_option("retry_after", "0")
    with pytest.raises(OptionError) as built:
        build_options({"retry_after": "0"}, lookup=no_env)
    assert str(alone.value) == str(built.value)
