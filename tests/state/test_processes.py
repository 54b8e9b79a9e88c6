"""The process registry against the real redis-server: reports written, read, expired."""

from __future__ import annotations

import json
import os
import re
import socket
import time

import pytest
import redis

from gatekeeper.state.keys import Keys
from gatekeeper.state.processes import (
    RETIRED_TTL,
    new_process_id,
    read_processes,
    read_retired,
    report_ttl,
    tally,
    tally_difference,
    withdraw_report,
    write_report,
)


def write(
    r: redis.Redis, keys: Keys, proc_id: str, report: dict[str, object], ttl: int = 10
) -> None:
    pipe = r.pipeline()
    write_report(pipe, keys, proc_id, report, ttl)
    pipe.execute()


def test_process_id_is_short_host_pid_and_a_random_suffix() -> None:
    first, second = new_process_id(), new_process_id()
    host = socket.gethostname().split(".")[0][:40] or "host"
    assert re.fullmatch(rf"{re.escape(host)}:{os.getpid()}:[0-9a-f]{{6}}", first), first
    assert first != second


@pytest.mark.parametrize(
    ("poll_interval", "ttl"), [(0.1, 3), (1.0, 3), (1.1, 4), (2.0, 6), (2.5, 8), (10, 30)]
)
def test_report_lives_three_heartbeats_and_at_least_three_seconds(
    poll_interval: float, ttl: int
) -> None:
    assert report_ttl(poll_interval) == ttl


def test_written_report_is_read_back_with_its_id_and_expiry(r: redis.Redis, keys: Keys) -> None:
    write(r, keys, "web:1:aaaaaa", {"pid": 1, "mode": "hold", "held": 2}, ttl=7)
    assert json.loads(r.get(keys.proc("web:1:aaaaaa")) or "null") == {
        "pid": 1,
        "mode": "hold",
        "held": 2,
        "ttl": 7,  # how long it lives, for a runner's drain across a Redis restart
    }
    assert 0 < r.ttl(keys.proc("web:1:aaaaaa")) <= 7
    assert abs((r.zscore(keys.procs, "web:1:aaaaaa") or 0) - time.time()) < 5
    assert read_processes(r, keys) == [
        {"pid": 1, "mode": "hold", "held": 2, "ttl": 7, "id": "web:1:aaaaaa"}
    ]


def test_reports_are_listed_oldest_heartbeat_first(r: redis.Redis, keys: Keys) -> None:
    for proc_id in ("c", "a", "b"):
        write(r, keys, proc_id, {"pid": proc_id})
    now = time.time()
    r.zadd(keys.procs, {"c": now - 3, "a": now - 2, "b": now - 1})
    assert [report["id"] for report in read_processes(r, keys)] == ["c", "a", "b"]


def test_expired_report_is_dropped_and_its_id_removed(r: redis.Redis, keys: Keys) -> None:
    write(r, keys, "alive", {"pid": 1})
    write(r, keys, "died", {"pid": 2})
    r.delete(keys.proc("died"))  # what its expiry does once it stops renewing
    assert [report["id"] for report in read_processes(r, keys)] == ["alive"]
    assert r.zrange(keys.procs, 0, -1) == ["alive"]


def test_ids_not_seen_within_ttl_are_skipped_and_very_old_ones_removed(
    r: redis.Redis, keys: Keys
) -> None:
    now = time.time()
    for proc_id in ("fresh", "quiet", "ancient"):
        write(r, keys, proc_id, {"pid": proc_id})
    r.zadd(keys.procs, {"quiet": now - 30, "ancient": now - 700})
    assert [report["id"] for report in read_processes(r, keys, ttl=20)] == ["fresh"]
    assert set(r.zrange(keys.procs, 0, -1)) == {"fresh", "quiet"}  # ancient: past 10 x ttl


def test_report_that_is_not_a_json_object_is_skipped(r: redis.Redis, keys: Keys) -> None:
    write(r, keys, "good", {"pid": 1})
    write(r, keys, "garbled", {"pid": 2})
    write(r, keys, "listed", {"pid": 3})
    r.set(keys.proc("garbled"), "{not json")
    r.set(keys.proc("listed"), "[1, 2]")
    assert [report["id"] for report in read_processes(r, keys)] == ["good"]


def test_nothing_registered_reads_as_no_processes(r: redis.Redis, keys: Keys) -> None:
    assert read_processes(r, keys) == []


def test_bytes_client_reads_the_same_reports(redis_url: str, keys: Keys) -> None:
    raw = redis.Redis.from_url(redis_url)  # decode_responses=False
    try:
        write(raw, keys, "web:9:abcdef", {"pid": 9})
        reports = read_processes(raw, keys)
    finally:
        raw.close()
    assert reports == [{"pid": 9, "ttl": 10, "id": "web:9:abcdef"}]


def test_tally_takes_each_process_totals_with_missing_counts_as_zero() -> None:
    reports: list[dict[str, object]] = [
        {"id": "a", "held_total": 3, "released_total": 2, "rejected_total": 1, "held": 1},
        {"id": "b", "held_total": "4", "handed_off_total": "2", "client_gone_total": 1},
    ]
    assert tally(reports) == {"a": counts(3, 2, 1), "b": counts(4, 0, 0, 2, gone=1)}


def counts(
    held: int, released: int, rejected: int, handed_off: int = 0, *, gone: int = 0
) -> dict[str, int]:
    return {
        "held_total": held,
        "released_total": released,
        "rejected_total": rejected,
        "handed_off_total": handed_off,
        "client_gone_total": gone,
    }


def test_tally_difference_sums_changes_over_every_process() -> None:
    before = {"stayed": counts(10, 8, 1), "vanished": counts(5, 5, 0)}
    after = {"stayed": counts(14, 11, 2, 1, gone=1), "appeared": counts(3, 1, 1, 1)}
    # stayed: +4/+3/+1/+1/+1; appeared counts from zero; vanished counts with what it
    # last reported, so it adds nothing.
    assert tally_difference(before, after) == {
        "held": 7, "released": 4, "rejected": 2, "handed_off": 2, "client_gone": 1
    }  # fmt: skip


def test_tally_difference_of_nothing_is_zero() -> None:
    nothing = {"held": 0, "released": 0, "rejected": 0, "handed_off": 0, "client_gone": 0}
    assert tally_difference({}, {}) == nothing
    same = {"p": counts(2, 1, 1, 1)}
    assert tally_difference(same, same) == nothing


def test_withdrawn_report_leaves_live_set_but_keeps_its_last_totals(
    r: redis.Redis, keys: Keys
) -> None:
    write(r, keys, "web:1:aaaaaa", {"pid": 1, "handed_off_total": 1}, ttl=7)
    write(r, keys, "web:2:bbbbbb", {"pid": 2}, ttl=7)
    pipe = r.pipeline()
    withdraw_report(pipe, keys, "web:1:aaaaaa", {"pid": 1, "handed_off_total": 9})
    pipe.execute()
    assert [p["id"] for p in read_processes(r, keys)] == ["web:2:bbbbbb"]
    retired = read_retired(r, keys, ["web:1:aaaaaa", "web:2:bbbbbb", "web:3:never"])
    assert retired == [{"pid": 1, "handed_off_total": 9, "gone": True, "id": "web:1:aaaaaa"}]
    assert 0 < r.ttl(keys.proc("web:1:aaaaaa")) <= RETIRED_TTL
