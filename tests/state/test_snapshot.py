"""Parsing the Redis values into a snapshot: every odd value has a safe outcome."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.core.modes import Mode, mode_hint, parse_mode
from gatekeeper.state.snapshot import MAX_MESSAGE, MAX_RETRY_AFTER, parse_snapshot


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(None, Mode.OPEN, id="absent"),
        pytest.param(b"", Mode.OPEN, id="empty"),
        pytest.param(b"open", Mode.OPEN, id="open"),
        pytest.param(b"hold", Mode.HOLD, id="hold"),
        pytest.param("readonly", Mode.READONLY, id="readonly-str"),
        pytest.param(b"maintenance", Mode.MAINTENANCE, id="maintenance"),
        pytest.param(b" Maintenance\n", Mode.MAINTENANCE, id="case-and-newline"),
        pytest.param(b"maintenence", None, id="typo"),
        pytest.param(b"\xff\xfe", None, id="not-utf8"),
        pytest.param(b"read-only", None, id="dash"),
    ],
)
def test_parse_mode_values(raw: bytes | str | None, expected: Mode | None) -> None:
    assert parse_mode(raw) is expected


def test_unknown_state_acts_as_fail_mode_and_reports_problem() -> None:
    snapshot, problems = parse_snapshot(b"maintenence", {}, unknown_mode=Mode.OPEN)
    assert snapshot.mode is Mode.OPEN
    assert snapshot.source == "unknown"
    assert len(problems) == 1
    assert "'maintenence'" in problems[0]


def test_unknown_state_with_fail_closed_is_maintenance() -> None:
    snapshot, _ = parse_snapshot(b"???", None, unknown_mode=Mode.MAINTENANCE)
    assert snapshot.mode is Mode.MAINTENANCE


@pytest.mark.parametrize(
    ("raw", "expected", "problem"),
    [
        pytest.param(b"30", 30, False, id="int"),
        pytest.param(b" 7.2 ", 8, False, id="float-rounds-up"),
        pytest.param(b"-5", 0, False, id="negative-clamped"),
        pytest.param(b"1e12", MAX_RETRY_AFTER, False, id="huge-clamped"),
        pytest.param(b"abc", None, True, id="text"),
        pytest.param(b"nan", None, True, id="nan"),
        pytest.param(b"inf", None, True, id="inf"),
        pytest.param(b"", None, True, id="empty"),
    ],
)
def test_retry_after_values(raw: bytes, expected: int | None, problem: bool) -> None:
    snapshot, problems = parse_snapshot(b"hold", {b"retry_after": raw}, unknown_mode=Mode.OPEN)
    assert snapshot.retry_after == expected
    assert bool(problems) is problem


def test_info_fields_are_read() -> None:
    info = {
        b"message": b"  Back at 10:05  ",
        b"hold_until": b"1800000000.5",
        b"since": b"1799999990",
        b"owner": b"deploy@host",
        b"generation": b"abc123",
    }
    snapshot, problems = parse_snapshot(b"hold", info, unknown_mode=Mode.OPEN)
    assert problems == []
    assert snapshot.message == "Back at 10:05"
    assert snapshot.hold_until == 1800000000.5
    assert snapshot.since == 1799999990.0
    assert (snapshot.owner, snapshot.generation) == ("deploy@host", "abc123")


def test_long_message_is_cut() -> None:
    snapshot, _ = parse_snapshot(b"hold", {b"message": b"x" * 10_000}, unknown_mode=Mode.OPEN)
    assert len(snapshot.message) == MAX_MESSAGE


def test_bad_hold_until_is_ignored_with_a_problem() -> None:
    snapshot, problems = parse_snapshot(b"hold", {b"hold_until": b"soon"}, unknown_mode=Mode.OPEN)
    assert snapshot.hold_until is None
    assert problems == ["info field hold_until='soon' ignored"]


@given(
    state=st.one_of(st.none(), st.binary(max_size=40), st.text(max_size=40)),
    info=st.dictionaries(
        st.one_of(
            st.sampled_from([b"message", b"retry_after", b"hold_until", b"since", b"owner"]),
            st.binary(max_size=10),
        ),
        st.binary(max_size=60),
        max_size=8,
    ),
)
def test_any_redis_values_parse_without_error(
    state: bytes | str | None, info: dict[bytes, bytes]
) -> None:
    snapshot, problems = parse_snapshot(state, info, unknown_mode=Mode.OPEN)
    assert isinstance(snapshot.mode, Mode)
    assert snapshot.retry_after is None or 0 <= snapshot.retry_after <= MAX_RETRY_AFTER
    assert len(snapshot.message) <= MAX_MESSAGE
    assert all(isinstance(p, str) for p in problems)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param({"channel": b"gk:events", "data": b"open"}, Mode.OPEN, id="open"),
        pytest.param({"channel": "gk:events", "data": "maintenance"}, Mode.MAINTENANCE, id="str"),
        pytest.param({"channel": b"gk:events", "data": b"x"}, None, id="re-read-only"),
        pytest.param({"channel": b"gk:events", "data": b""}, None, id="empty"),
        pytest.param({"channel": b"__keyspace@0__:gk:state", "data": b"set"}, None, id="keyspace"),
        pytest.param({"channel": b"other:events", "data": b"open"}, None, id="other-channel"),
        pytest.param({"channel": b"gk:events", "data": 1}, None, id="not-text"),
    ],
)
def test_mode_hint_from_pubsub_messages(message: dict[str, object], expected: Mode | None) -> None:
    assert mode_hint(message, "gk:events") is expected
