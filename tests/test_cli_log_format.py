"""``--log-format`` on the operator commands, called as ``main(argv)`` in-process."""

from __future__ import annotations

import json

import pytest

from gatekeeper.cli import main
from gatekeeper.events import logger
from gatekeeper.state.keys import Keys


def test_hold_in_json_keeps_stdout_and_logs_state_set_then_undoes_logging(
    redis_url: str, prefix: str, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (list(logger.handlers), logger.level)
    argv = ["--redis-url", redis_url, "--prefix", prefix, "hold", "--log-format", "json"]
    assert main([*argv, "--ttl", "30"]) == 0
    assert (list(logger.handlers), logger.level) == before
    out, err = capsys.readouterr()
    assert out == f"{keys.state} = hold (expires in 30s)\n"
    [line] = [json.loads(text) for text in err.splitlines()]
    assert line["event"] == "cli.state_set"
    assert (line["state"], line["key"], line["ttl_seconds"]) == ("hold", keys.state, 30.0)


def test_status_in_text_mode_prints_nothing_on_stderr(
    redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--redis-url", redis_url, "--prefix", prefix, "open"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.endswith(" = open\n")


def test_log_format_from_environment_applies_and_the_option_wins(
    redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEKEEPER_LOG_FORMAT", "json")
    base = ["--redis-url", redis_url, "--prefix", prefix]
    assert main([*base, "open"]) == 0
    assert json.loads(capsys.readouterr().err)["event"] == "cli.state_set"
    assert main([*base, "--log-format", "text", "open"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ["xml", "JSONL", "1"])
def test_bad_log_format_in_environment_exits_2_with_one_line(
    value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEKEEPER_LOG_FORMAT", value)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"gatekeeper: error: GATEKEEPER_LOG_FORMAT must be text or json, not {value.lower()!r}\n"
    )


def test_bad_log_format_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--log-format", "yaml"]) == 2
    assert "invalid choice: 'yaml'" in capsys.readouterr().err


def test_unreachable_redis_in_json_is_a_cli_error_line(
    prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "redis://:pw-abc@127.0.0.1:1/0"
    assert main(["--redis-url", url, "--prefix", prefix, "--log-format", "json", "open"]) == 75
    [line] = [json.loads(text) for text in capsys.readouterr().err.splitlines()]
    assert line["event"] == "cli.error"
    assert (line["level"], line["exit_code"]) == ("error", 75)
    assert "redis://:***@127.0.0.1:1/0" in line["message"]
    assert "pw-abc" not in line["message"]
