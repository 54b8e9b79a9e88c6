"""The watcher's events: a real redis-server (with a password) stopped and started again."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from gatekeeper import Gate
from gatekeeper.events import JsonFormatter, logger
from gatekeeper.state._watcher_log import problem_fields
from gatekeeper.state.keys import Keys
from gatekeeper.testing import RedisServer
from tests.support.helpers import wait_for

PASSWORD = "watcher-pw-0123456789"


class JsonLines:
    """A JsonFormatter handler on the ``gatekeeper`` logger, read back as events."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        # No secrets given: what must keep the password out is the watcher's own redaction.
        self.handler.setFormatter(JsonFormatter())

    def events(self) -> list[dict[str, Any]]:
        self.handler.acquire()  # the watcher thread may be writing
        try:
            text = self.stream.getvalue()
        finally:
            self.handler.release()
        return [json.loads(line) for line in text.splitlines()]

    def names(self) -> list[str]:
        return [str(e["event"]) for e in self.events()]

    def first(self, name: str) -> dict[str, Any]:
        return next(e for e in self.events() if e["event"] == name)


@pytest.fixture
def json_lines() -> Iterator[JsonLines]:
    lines = JsonLines()
    level = logger.level
    logger.addHandler(lines.handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(lines.handler)
    logger.setLevel(level)


@pytest.fixture
def password_server() -> Iterator[RedisServer]:
    with RedisServer(extra_args=("--requirepass", PASSWORD)) as server:
        yield server


def test_redis_stopped_and_started_logs_lost_failed_open_recovered(
    make_gate: Callable[..., Gate], password_server: RedisServer, json_lines: JsonLines
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{password_server.port}/0"
    client = redis.Redis.from_url(url)
    keys = Keys("ev")
    client.set(keys.state, "hold")
    gate = make_gate(redis_url=url, prefix="ev", stale_timeout=0.6, poll_interval=0.1)
    assert gate.watcher.wait_ready().source == "redis"
    wait_for(lambda: "watcher.connected" in json_lines.names(), 3.0, what="connected")

    password_server.stop(kill=True)
    wait_for(lambda: "watcher.failed_open" in json_lines.names(), 5.0, what="failed open")
    password_server.start()
    wait_for(lambda: "watcher.recovered" in json_lines.names(), 5.0, what="recovered")
    client = redis.Redis.from_url(url)
    client.set(keys.state, "maintenence")
    client.publish(keys.events, "x")
    wait_for(lambda: "state.invalid" in json_lines.names(), 5.0, what="state.invalid")
    client.close()

    names = json_lines.names()
    order = ["watcher.connected", "watcher.lost", "watcher.failed_open", "watcher.recovered"]
    assert [n for n in names if n in order] == order  # each once, in this order
    lost, stale = json_lines.first("watcher.lost"), json_lines.first("watcher.stale")
    assert lost["level"] == "warning"
    assert (lost["kept_state"], lost["stale_timeout_seconds"]) == ("hold", 0.6)
    assert (stale["kept_state"], stale["stale_timeout_seconds"]) == ("hold", 0.6)
    assert names.index("watcher.lost") < names.index("watcher.stale")
    failed = json_lines.first("watcher.failed_open")
    assert failed["level"] == "error"
    assert failed["lost_seconds"] >= 0.5
    assert json_lines.first("watcher.recovered")["lost_seconds"] >= failed["lost_seconds"]
    changed = json_lines.first("watcher.state_changed")
    assert (changed["from"], changed["to"], changed["source"]) == (None, "hold", "redis")
    invalid = json_lines.first("state.invalid")
    assert (invalid["key"], invalid["value"], invalid["level"]) == ("state", "maintenence", "error")
    for event in json_lines.events():
        assert event["process"] == gate.watcher.proc_id, event
        assert event["redis"] == f"redis://:***@127.0.0.1:{password_server.port}/0", event
    assert PASSWORD not in json_lines.stream.getvalue()


def test_bad_info_field_gives_state_invalid_with_the_field_and_value(
    make_gate: Callable[..., Gate], r: redis.Redis, keys: Keys, json_lines: JsonLines
) -> None:
    r.set(keys.state, "hold")
    r.hset(keys.info, mapping={"retry_after": 'soon"\n\u2028'})
    gate = make_gate(poll_interval=0.05)
    gate.watcher.wait_ready()
    wait_for(lambda: "state.invalid" in json_lines.names(), 3.0, what="state.invalid")
    invalid = json_lines.first("state.invalid")
    assert (invalid["key"], invalid["field"]) == ("info", "retry_after")
    assert invalid["value"] == 'soon"\n\u2028'
    assert invalid["problem"].startswith("info field retry_after=")


@pytest.mark.parametrize(
    ("problem", "fields"),
    [
        pytest.param(
            "unknown state value 'x'; expected open, hold, readonly or maintenance; acting as open",
            {"key": "state", "field": None, "value": "x"},
            id="state",
        ),
        pytest.param(
            "info field since='yesterday' ignored",
            {"key": "info", "field": "since", "value": "yesterday"},
            id="info",
        ),
        pytest.param(
            "unknown keepalive value 'closed'; expected off or off:HOST[,HOST...]; keeping "
            "connections alive",
            {"key": "keepalive", "field": None, "value": "closed"},
            id="keepalive",
        ),
        pytest.param(
            "handoff value 'a b' is not a release name; ignoring it",
            {"key": "handoff", "field": None, "value": "a b"},
            id="handoff",
        ),
        pytest.param(
            "something else entirely", {"key": None, "field": None, "value": None}, id="other"
        ),
    ],
)
def test_problem_text_gives_its_key_and_value(problem: str, fields: dict[str, Any]) -> None:
    assert problem_fields(problem) == fields
