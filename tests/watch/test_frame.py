"""The pure parts of ``gatekeeper watch``: the sparkline, the frame built from a status
and the frame before it, and what the views make of hostile values from Redis."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from gatekeeper.state.store import Status
from gatekeeper.watch._frame import HISTORY, Frame, Where, build_frame, failed_frame, sparkline
from gatekeeper.watch._plain import plain_lines
from gatekeeper.watch._rich import render
from gatekeeper.watch._text import clean, count, seconds

WHERE = Where("redis://127.0.0.1:6379/0", "gk")
HOSTILE = "\x1b[2J\x1b]0;owned\x07\x9b31m\u202eevil\r\n[bold red]markup[/]"


def status(*reports: dict[str, Any], state: str = "hold", **info: str) -> Status:
    return Status(
        state=state, mode=state, ttl=12.5, info=dict(info), lock_holder=None, lock_ttl=None,
        processes=[dict(report) for report in reports],
    )  # fmt: skip


def report(proc_id: str, gated: int = 0, **fields: Any) -> dict[str, Any]:
    """A report as read_processes returns it: ``gated`` all in ``held_total``."""
    return {"id": proc_id, "pid": int(proc_id.split(":")[1]), "mode": "hold", "inflight": 0,
            "held": 0, "held_total": gated, "rejected_total": 0, "handed_off_total": 0,
            **fields}  # fmt: skip


def frame_of(st: Status, previous: Frame | None, now: float, **beats: float) -> Frame:
    return build_frame(st, where=WHERE, heartbeats=beats, previous=previous, now=now)


def all_text(frame: Frame) -> str:
    return "\n".join(plain_lines(frame))


def test_sparkline_of_nothing_is_empty() -> None:
    assert sparkline([]) == ""


def test_sparkline_of_zeros_is_the_bottom_block() -> None:
    assert sparkline([0, 0, 0.0]) == "▁▁▁"


def test_sparkline_one_spike_is_the_top_block_among_bottoms() -> None:
    assert sparkline([0, 0, 7.5, 0]) == "▁▁█▁"


def test_sparkline_scales_to_the_largest_value() -> None:
    assert sparkline([1, 2, 4, 8]) == "▂▃▅█"
    assert sparkline([10, 20, 40, 80]) == sparkline([1, 2, 4, 8])  # relative, not absolute


def test_sparkline_trickle_beside_a_burst_stays_above_zero() -> None:
    assert sparkline([0, 0.01, 1000]) == "▁▂█"


def test_sparkline_negative_or_not_finite_values_count_as_zero() -> None:
    assert sparkline([-5, float("nan"), float("inf"), 2]) == "▁▁▁█"


def test_sparkline_other_blocks_are_used_as_given() -> None:
    assert sparkline([0, 1], blocks="_.-~=*#@") == "_@"


def test_rate_is_the_gated_delta_over_the_heartbeat_interval() -> None:
    first = frame_of(status(report("web:1:a", gated=10)), None, 100.5, **{"web:1:a": 100.0})
    assert first.rows[0].rates == ()  # one report: nothing to take a rate from
    st = status(report("web:1:a", held_total=12, rejected_total=3, handed_off_total=1))
    second = frame_of(st, first, 101.5, **{"web:1:a": 102.0})
    assert second.rows[0].rates == (3.0,)  # (12 + 3 + 1 - 10) / 2 s
    assert second.total_rates == (3.0,)


def test_refresh_without_a_newer_report_adds_no_sample() -> None:
    beats = {"web:1:a": 100.0}
    first = frame_of(status(report("web:1:a", gated=10)), None, 100.2, **beats)
    second = frame_of(status(report("web:1:a", gated=14)), first, 101.0, **{"web:1:a": 101.0})
    # The report and its score are read apart: a newer report under the old score must
    # not move the baseline either, its counts are of an unknown moment.
    same = frame_of(status(report("web:1:a", gated=15)), second, 101.5, **{"web:1:a": 101.0})
    assert same.rows[0].rates == (4.0,)  # not a false 0 between two heartbeats
    third = frame_of(status(report("web:1:a", gated=20)), same, 102.2, **{"web:1:a": 102.0})
    assert third.rows[0].rates == (4.0, 6.0)  # from the baseline at 101.0, not lost


def test_rate_without_a_heartbeat_uses_the_time_of_the_read() -> None:
    first = frame_of(status(report("web:1:a", gated=0)), None, 50.0)
    second = frame_of(status(report("web:1:a", gated=5)), first, 52.0)
    assert second.rows[0].rates == (2.5,)


def test_history_keeps_the_last_samples_only() -> None:
    frame = frame_of(status(report("web:1:a", gated=0)), None, 0.0, **{"web:1:a": 0.0})
    for second in range(1, HISTORY + 6):
        st = status(report("web:1:a", gated=second * second))
        frame = frame_of(st, frame, second + 0.1, **{"web:1:a": float(second)})
    rates = frame.rows[0].rates
    assert len(rates) == HISTORY
    assert rates[-1] == (HISTORY + 5) ** 2 - (HISTORY + 4) ** 2
    assert len(frame.total_rates) == HISTORY


def test_process_that_appeared_has_no_rate_and_adds_none_to_the_total() -> None:
    first = frame_of(status(report("web:1:a", gated=0)), None, 10.0, **{"web:1:a": 10.0})
    st = status(report("web:1:a", gated=2), report("web:2:b", gated=500))
    second = frame_of(st, first, 11.0, **{"web:1:a": 11.0, "web:2:b": 11.0})
    rows = {row.pid: row for row in second.rows}
    assert rows["1"].rates == (2.0,)
    assert rows["2"].rates == ()  # its 500 were gated before the watch saw it
    assert second.total_rates == (2.0,)


def test_process_that_vanished_leaves_the_rows_and_the_total() -> None:
    st = status(report("web:1:a", gated=0), report("web:2:b", gated=0))
    beats = {"web:1:a": 10.0, "web:2:b": 10.0}
    first = frame_of(st, None, 10.0, **beats)
    second = frame_of(
        status(report("web:1:a", gated=1), report("web:2:b", gated=9)), first, 11.0,
        **{"web:1:a": 11.0, "web:2:b": 11.0},
    )  # fmt: skip
    assert second.total_rates == (10.0,)
    third = frame_of(status(report("web:1:a", gated=2)), second, 12.0, **{"web:1:a": 12.0})
    assert [row.pid for row in third.rows] == ["1"]
    assert third.total_rates == (10.0, 1.0)
    assert "web:2:b" not in all_text(third)


def test_counter_that_went_back_starts_a_new_baseline() -> None:
    first = frame_of(status(report("web:1:a", gated=50)), None, 1.0, **{"web:1:a": 1.0})
    second = frame_of(status(report("web:1:a", gated=3)), first, 2.0, **{"web:1:a": 2.0})
    assert second.rows[0].rates == ()
    third = frame_of(status(report("web:1:a", gated=5)), second, 3.0, **{"web:1:a": 3.0})
    assert third.rows[0].rates == (2.0,)


def test_rows_are_grouped_by_host_then_release() -> None:
    st = status(
        report("web-2:3:c", release="r2"), report("web-1:1:a", release="r2"),
        report("web-1:2:b", release="r1"),
    )  # fmt: skip
    frame = frame_of(st, None, 1.0)
    assert [(h, r, [row.pid for row in rows]) for h, r, rows in frame.groups()] == [
        ("web-1", "r1", ["2"]), ("web-1", "r2", ["1"]), ("web-2", "r2", ["3"]),
    ]  # fmt: skip
    assert frame.hosts == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"pid": [1, 2], "held": "3", "inflight": True, "held_total": -1, "mode": 5},
        {"pid": {"x": 1}, "held": 2.5, "inflight": None, "rejected_total": "9", "mode": None},
        {"held": 10**30, "inflight": [], "handed_off_total": 1.5, "release": ["a"]},
    ],
)
def test_malformed_report_renders_with_question_marks_and_no_rate(bad: dict[str, Any]) -> None:
    st = status({**report("web:1:a"), **bad})
    first = frame_of(st, None, 1.0, **{"web:1:a": 1.0})
    second = frame_of(st, first, 2.0, **{"web:1:a": 2.0})
    row = second.rows[0]
    assert row.held is None
    assert row.inflight is None
    assert row.gated is None
    assert row.rates == ()
    line = next(line for line in plain_lines(second) if "web:1:a" in line)
    assert "held=?" in line
    assert "in-flight=?" in line
    assert "gated/s=-" in line
    assert render(second) is not None


def test_longest_wait_is_shown_when_present_and_tolerated_when_absent() -> None:
    st = status(report("web:1:a", longest_wait=2.25), report("web:2:b"),
                report("web:3:c", longest_wait="soon"))  # fmt: skip
    frame = frame_of(st, None, 1.0)
    waits = {row.pid: row.longest_wait for row in frame.rows}
    assert waits == {"1": 2.25, "2": None, "3": None}
    lines = {line.split()[0]: line for line in plain_lines(frame) if line.startswith("    ")}
    assert "longest-wait=2.2s" in lines["web:1:a"]
    assert "longest-wait" not in lines["web:2:b"]


def test_requests_still_held_show_how_long_they_have_waited() -> None:
    # A migration's held requests all wait until its release: longest_wait (holds that
    # ended) is still 0, the time since the process began holding is not.
    st = status(
        report("web:1:a", held=4, longest_wait=0.0, held_since=996.0),
        report("web:2:b", held=2, longest_wait=9.5, held_since=996.0),
        report("web:3:c", held=1, held_since=1010.0),  # a clock ahead of ours
        report("web:4:d", held=1, held_since="yesterday"),
    )
    waits = {row.pid: row.longest_wait for row in frame_of(st, None, 1000.0).rows}
    assert waits == {"1": 4.0, "2": 9.5, "3": None, "4": None}


def test_control_characters_from_redis_never_reach_the_output() -> None:
    st = status(report(f"web:1:{HOSTILE}", release=HOSTILE, mode=HOSTILE), state=HOSTILE,
                owner=HOSTILE, message=HOSTILE)  # fmt: skip
    st.lock_holder = HOSTILE
    st.keepalive = HOSTILE
    st.handoff = HOSTILE
    frame = frame_of(st, None, 1.0)
    plain = all_text(frame)
    out = io.StringIO()
    Console(file=out, force_terminal=False, width=300).print(render(frame))
    for text in (plain, out.getvalue()):
        for char in "\x1b\x07\x9b\u202e\r":
            assert char not in text
        assert "\\x1b[2J" in text  # escaped, so still readable
    assert "[bold red]markup[/]" in out.getvalue()  # shown as typed, not as markup
    error = failed_frame(frame, f"cannot reach {HOSTILE}", where=WHERE, now=2.0)
    assert "\x1b" not in all_text(error)


def test_huge_values_are_truncated() -> None:
    huge = "A" * 1_000_000
    frame = frame_of(status(report("web:1:a", release=huge, pid=huge), owner=huge), None, 1.0)
    row = frame.rows[0]
    assert len(row.release) <= 40
    assert row.release.endswith("…")
    assert len(row.pid) <= 12
    assert len(frame.owner or "") <= 200
    assert max(len(line) for line in plain_lines(frame)) < 400


def test_clean_count_and_seconds_accept_only_what_they_should() -> None:
    assert clean(b"caf\xc3\xa9\x00") == "café\\x00"
    assert clean(None) == ""
    assert clean(12) == "12"
    assert clean("x" * 10, limit=5) == "xxxx…"
    assert [count(v) for v in (0, 7, -1, True, 1.0, "3", None, 10**16)] == [
        0, 7, None, None, None, None, None, None,
    ]  # fmt: skip
    assert [seconds(v) for v in (0, 1.5, -1, float("nan"), False, "1")] == [
        0.0, 1.5, None, None, None, None,
    ]  # fmt: skip


def test_failed_frame_keeps_what_was_last_read_and_says_so() -> None:
    good = frame_of(status(report("web:1:a", held=4), owner="me@h:1"), None, 100.0)
    failed = failed_frame(good, "cannot reach Redis at redis://:***@h:1/0: ConnectionError",
                          where=WHERE, now=103.0)  # fmt: skip
    lines = plain_lines(failed)
    assert any(line.startswith("error:") and "retrying; shown as read at" in line for line in lines)
    assert any("held=4" in line for line in lines)
    never = failed_frame(None, "cannot reach Redis", where=WHERE, now=1.0)
    assert [line.split(":")[0] for line in plain_lines(never)[1:]] == ["redis", "error"]
