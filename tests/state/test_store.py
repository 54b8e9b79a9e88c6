"""Writing and reading the shared state against the real redis-server."""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis
from redis.client import PubSub

from gatekeeper.core.modes import Mode
from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import write_report
from gatekeeper.state.store import identity, info_fields, read_status, set_mode, set_open

TIMEOUT = 5.0


@pytest.fixture
def events(r: redis.Redis, keys: Keys) -> Iterator[PubSub]:
    """A subscriber on the events channel, subscribed before the test writes."""
    pubsub = cast(PubSub, r.pubsub())  # type: ignore[no-untyped-call]
    pubsub.subscribe(keys.events)
    confirmation = next_message(pubsub)
    assert confirmation["type"] == "subscribe"
    yield pubsub
    pubsub.close()


def next_message(pubsub: PubSub) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=deadline - time.monotonic())
        if message is not None:
            return cast(dict[str, Any], message)
    raise AssertionError("no pub/sub message within the timeout")


def test_set_mode_writes_state_and_fresh_info_then_publishes_the_mode(
    r: redis.Redis, keys: Keys, events: PubSub
) -> None:
    r.hset(keys.info, mapping={"message": "old", "stale": "from before"})
    set_mode(r, keys, Mode.MAINTENANCE, {"owner": "ops@host:1", "message": "new"})

    assert r.get(keys.state) == "maintenance"
    assert r.hgetall(keys.info) == {"owner": "ops@host:1", "message": "new"}  # stale: gone
    assert (r.pttl(keys.state), r.pttl(keys.info)) == (-1, -1)
    message = next_message(events)
    assert (message["type"], message["channel"], message["data"]) == (
        "message",
        keys.events,
        "maintenance",
    )


def test_set_mode_with_ttl_expires_state_and_info_together(
    r: redis.Redis, keys: Keys, events: PubSub
) -> None:
    set_mode(r, keys, Mode.HOLD, {"owner": "runner"}, ttl=30)
    assert r.get(keys.state) == "hold"
    for key in (keys.state, keys.info):
        assert 29_000 < r.pttl(key) <= 30_000, key
    assert next_message(events)["data"] == "hold"


def test_set_mode_without_ttl_drops_an_earlier_expiry(r: redis.Redis, keys: Keys) -> None:
    set_mode(r, keys, Mode.HOLD, {"owner": "runner"}, ttl=30)
    set_mode(r, keys, Mode.READONLY, {"owner": "ops"})
    assert r.get(keys.state) == "readonly"
    assert (r.pttl(keys.state), r.pttl(keys.info)) == (-1, -1)


def test_set_open_writes_literal_open_deletes_info_and_publishes(
    r: redis.Redis, keys: Keys, events: PubSub
) -> None:
    set_mode(r, keys, Mode.HOLD, {"owner": "runner"}, ttl=30)
    assert next_message(events)["data"] == "hold"

    set_open(r, keys)
    assert r.get(keys.state) == "open"  # a value, not a DEL: an explicit decision
    assert r.pttl(keys.state) == -1  # and it does not expire with the runner's lease
    assert r.exists(keys.info) == 0
    message = next_message(events)
    assert (message["channel"], message["data"]) == (keys.events, "open")


def test_read_status_reports_state_ttl_info_and_lock(r: redis.Redis, keys: Keys) -> None:
    fields = {"owner": "runner@host:7", "message": "Migrating", "generation": "g1"}
    set_mode(r, keys, Mode.HOLD, fields, ttl=30)
    r.set(keys.lock, "runner@host:7:abc", px=20_000)

    status = read_status(r, keys)
    assert (status.state, status.mode, status.info) == ("hold", "hold", fields)
    assert status.ttl is not None
    assert 29 < status.ttl <= 30
    assert status.lock_holder == "runner@host:7:abc"
    assert status.lock_ttl is not None
    assert 19 < status.lock_ttl <= 20
    assert status.as_dict()["lock"] == {"holder": "runner@host:7:abc", "ttl": status.lock_ttl}
    assert status.processes == []


def test_read_status_of_an_absent_state_is_absent_and_open(r: redis.Redis, keys: Keys) -> None:
    status = read_status(r, keys)
    assert (status.state, status.mode) == ("(absent)", "open")
    assert (status.ttl, status.info, status.lock_holder, status.lock_ttl) == (None, {}, None, None)
    assert status.as_dict() == {
        "state": "(absent)",
        "mode": "open",
        "ttl": None,
        "info": {},
        "lock": None,
        "keepalive": None,
        "handoff": None,
        "processes": [],
        "groups": [],
    }


def test_read_status_names_the_release_a_handoff_redirects_to(r: redis.Redis, keys: Keys) -> None:
    r.set(keys.handoff, "v2", ex=30)
    assert read_status(r, keys).as_dict()["handoff"] == "v2"


@pytest.mark.parametrize(
    ("raw", "mode"),
    [("paused", "unknown"), ("", "open"), (" Maintenance\n", "maintenance"), ("open", "open")],
)
def test_read_status_shows_the_raw_value_and_the_mode_it_means(
    r: redis.Redis, keys: Keys, raw: str, mode: str
) -> None:
    r.set(keys.state, raw)
    status = read_status(r, keys)
    assert (status.state, status.mode) == (raw, mode)
    assert status.ttl is None  # no expiry


def test_read_status_with_a_bytes_client_gives_text(redis_url: str, keys: Keys) -> None:
    raw = redis.Redis.from_url(redis_url)  # decode_responses=False: values come as bytes
    try:
        set_mode(raw, keys, Mode.READONLY, {"owner": "ops", "message": "Caf\u00e9"})
        raw.set(keys.lock, "token")
        status = read_status(raw, keys)
    finally:
        raw.close()
    assert (status.state, status.mode) == ("readonly", "readonly")
    assert status.info == {"owner": "ops", "message": "Caf\u00e9"}
    assert (status.lock_holder, status.lock_ttl) == ("token", None)


def test_read_status_lists_the_live_processes(r: redis.Redis, keys: Keys) -> None:
    pipe = r.pipeline()
    write_report(pipe, keys, "web:1:abc", {"pid": 1, "mode": "open"}, ttl=10)
    pipe.execute()
    assert read_status(r, keys).processes == [
        {"pid": 1, "mode": "open", "ttl": 10, "id": "web:1:abc"}
    ]


def test_info_fields_default_to_owner_and_since() -> None:
    before = time.time()
    fields = info_fields()
    assert set(fields) == {"owner", "since"}
    assert fields["owner"] == identity()
    assert before - 0.001 <= float(fields["since"]) <= time.time() + 0.001
    assert len(fields["since"].split(".")[1]) == 3


def test_info_fields_format_what_is_given_and_skip_what_is_empty() -> None:
    fields = info_fields(
        message="Back soon",
        retry_after=0,
        hold_until=1700000000.12345,
        generation="g9",
        owner="ops@box:1",
        ttl=30.0,
    )
    assert {k: v for k, v in fields.items() if k != "since"} == {
        "owner": "ops@box:1",
        "message": "Back soon",
        "retry_after": "0",  # zero is a value, not "absent"
        "hold_until": "1700000000.123",
        "generation": "g9",
        "ttl": "30",
    }
    assert info_fields(ttl=0.5)["ttl"] == "0.5"
    empty = info_fields(message="", generation="", ttl=0, owner="o")
    assert set(empty) == {"owner", "since"}


def test_identity_is_user_at_host_colon_pid() -> None:
    assert identity() == f"{getpass.getuser()}@{socket.gethostname()}:{os.getpid()}"


def test_identity_without_a_user_name_falls_back_to_the_uid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_user() -> str:
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(getpass, "getuser", no_user)  # the module control calls
    assert identity() == f"{os.getuid()}@{socket.gethostname()}:{os.getpid()}"
