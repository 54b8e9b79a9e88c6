"""``gatekeeper.events``: ``emit``, the JSON formatter, and the CLI's logging set-up."""

from __future__ import annotations

import io
import json
import logging
import math
import sys
from collections.abc import Iterator

import pytest

from gatekeeper.events import JsonFormatter, cli_logging, emit, logger


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the ``gatekeeper`` logger writes through a JsonFormatter, at INFO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(secrets=["hunter2"]))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().split("\n") if line]


def record(msg: str = "m", args: tuple[object, ...] = (), **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("gatekeeper", logging.INFO, __file__, 1, msg, args, None)
    made.__dict__.update(extra)
    return made


def test_event_renders_base_keys_then_fields(lines: io.StringIO) -> None:
    emit("runner.released", "released (open)", held=3, held_seconds=1.5, complete=True)
    [line] = parsed(lines)
    assert list(line)[:5] == ["ts", "level", "logger", "event", "message"]
    assert line["level"] == "info"
    assert line["logger"] == "gatekeeper"
    assert line["event"] == "runner.released"
    assert line["message"] == "released (open)"
    assert (line["held"], line["held_seconds"], line["complete"]) == (3, 1.5, True)
    ts = str(line["ts"])
    assert ts.endswith("Z")
    assert len(ts) == len("2026-12-03T15:40:01.123Z")
    assert ts[10] == "T"


def test_record_without_event_has_null_event(lines: io.StringIO) -> None:
    logging.getLogger("gatekeeper.sub").warning("plain %s", "text")
    [line] = parsed(lines)
    assert line["event"] is None
    assert line["message"] == "plain text"
    assert line["level"] == "warning"
    assert line["logger"] == "gatekeeper.sub"


def test_non_ascii_and_line_separators_stay_on_one_ascii_line(lines: io.StringIO) -> None:
    value = "caf\u00e9 \u2028 next\nline \x85 \U0001f600"
    emit("state.invalid", f"bad {value}", value=value)
    text = lines.getvalue()
    assert text.isascii()
    assert text.count("\n") == 1
    assert text.splitlines() == [text.rstrip("\n")]
    [line] = parsed(lines)
    assert line["value"] == value
    assert line["message"] == f"bad {value}"


def test_exception_becomes_redacted_exc_string(lines: io.StringIO) -> None:
    try:
        raise ValueError("cannot connect to redis://:hunter2@h/0 with token hunter2")
    except ValueError as exc:
        emit("watcher.bug", "failed", level=logging.ERROR, exc_info=exc)
    [line] = parsed(lines)
    exc_text = str(line["exc"])
    assert "Traceback (most recent call last)" in exc_text
    assert "ValueError" in exc_text
    assert "hunter2" not in exc_text
    assert "redis://:***@h/0" in exc_text


def test_values_json_cannot_hold_become_strings(lines: io.StringIO) -> None:
    emit(
        "x.y", "m", obj=object(), nan=math.nan, inf=-math.inf, tup=(1, "a"),
        nested={"k": {1, 2}, 3: [None]}, bad=Unprintable(),
    )  # fmt: skip
    [line] = parsed(lines)
    assert str(line["obj"]).startswith("<object object at")
    assert (line["nan"], line["inf"]) == ("nan", "-inf")
    assert line["tup"] == [1, "a"]
    assert line["nested"] == {"k": [1, 2], "3": [None]}
    assert line["bad"] == "<unprintable Unprintable>"


def test_field_named_like_a_base_key_is_renamed(lines: io.StringIO) -> None:
    emit("x.y", "the message", ts="mine", logger="mine too")
    [line] = parsed(lines)
    assert line["ts"] != "mine"
    assert line["logger"] == "gatekeeper"
    assert (line["field_ts"], line["field_logger"]) == ("mine", "mine too")


def test_secret_in_message_and_fields_is_masked(lines: io.StringIO) -> None:
    emit("x.y", "pw hunter2", url="postgres://u:pw@h/db", argv=["--password=pw"])
    [line] = parsed(lines)
    assert line["message"] == "pw ***"
    assert line["url"] == "postgres://u:***@h/db"
    assert line["argv"] == ["--password=***"]


def test_message_is_never_percent_formatted(lines: io.StringIO) -> None:
    emit("state.invalid", "value '100%s' from Redis")
    assert parsed(lines)[0]["message"] == "value '100%s' from Redis"


def test_bad_percent_args_still_give_a_line() -> None:
    text = JsonFormatter().format(record("%d items", ("many",)))
    line = json.loads(text)
    assert "%d items" in str(line["message"])


def test_record_that_breaks_formatting_gives_a_fallback_line() -> None:
    broken = record()
    broken.created = "not a time"  # type: ignore[assignment]
    line = json.loads(JsonFormatter().format(broken))
    assert line["message"] == "unformattable log record"
    assert line["event"] is None


def test_emit_below_the_logger_level_builds_no_record(lines: io.StringIO) -> None:
    emit("x.debug", "quiet", level=logging.DEBUG)
    assert lines.getvalue() == ""


def test_cli_logging_json_writes_to_stderr_and_undoes_itself(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = (list(logger.handlers), logger.level)
    with cli_logging("json", secrets=["pw"]) as as_json:
        assert as_json is True
        emit("x.y", "hello pw")
    assert (list(logger.handlers), logger.level) == before
    [line] = capsys.readouterr().err.splitlines()
    assert json.loads(line)["message"] == "hello ***"


def test_cli_logging_text_keeps_warnings_off_the_last_resort_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Outside pytest nothing else handles the record: logging's lastResort would print it.
    stream = io.StringIO()
    monkeypatch.setattr(logging, "lastResort", logging.StreamHandler(stream))
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    with cli_logging("text") as as_json:
        assert as_json is False
        emit("runner.overrun", "overrun", level=logging.WARNING)
    assert stream.getvalue() == ""
    emit("runner.overrun", "overrun", level=logging.WARNING)  # the check can fail
    assert stream.getvalue() == "overrun\n"
    assert sys.stderr is not stream
