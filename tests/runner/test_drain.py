"""DrainWatch, the drain's memory of gate processes: pure, driven by a fake clock."""

from __future__ import annotations

from gatekeeper.runner._drain import DrainWatch, coverage_problem

ACK = "hold:g1"


def report(proc_id: str, drained: str | None = None, ttl: object = 3) -> dict[str, object]:
    found: dict[str, object] = {"id": proc_id, "inflight": 0 if drained else 1, "ttl": ttl}
    if drained:
        found["drained"] = drained
    return found


def ids(reports: list[dict[str, object]]) -> list[object]:
    return sorted(r["id"] for r in reports)


def test_process_that_acknowledges_is_no_longer_waited_for() -> None:
    watch = DrainWatch(ACK)
    assert ids(watch.update([report("a"), report("b")], 0.0)) == ["a", "b"]
    assert ids(watch.update([report("a", ACK), report("b")], 0.1)) == ["b"]
    assert watch.update([report("a", ACK), report("b", ACK)], 0.2) == []
    assert watch.processes == 2


def test_ack_of_another_hold_does_not_count() -> None:
    watch = DrainWatch(ACK)
    assert ids(watch.update([report("a", "hold:older")], 0.0)) == ["a"]


def test_process_whose_report_expired_while_redis_answered_is_dropped_at_once() -> None:
    watch = DrainWatch(ACK)
    watch.update([report("a"), report("b")], 0.0)
    assert ids(watch.update([report("b")], 0.1)) == ["b"]  # a died: its report expired
    assert watch.processes == 1


def test_registry_emptied_by_a_redis_restart_keeps_every_known_process_waiting() -> None:
    watch = DrainWatch(ACK)
    watch.update([report("a"), report("b", ACK)], 0.0)
    watch.failed()
    assert ids(watch.update([], 1.0)) == ["a"]  # b had drained before the gap
    assert ids(watch.update([], 3.9)) == ["a"]
    assert watch.processes == 2
    assert ids(watch.update([report("a", ACK)], 3.95)) == []  # a re-reported, drained


def test_process_missing_one_report_ttl_after_redis_answered_again_is_dropped() -> None:
    watch = DrainWatch(ACK)
    watch.update([report("a", ttl=3)], 0.0)
    watch.failed()
    watch.update([], 10.0)  # a long outage: the grace counts from Redis's return
    assert ids(watch.update([], 12.9)) == ["a"]
    assert watch.update([], 13.1) == []
    assert watch.processes == 0


def test_report_ttl_comes_from_the_report_and_bad_values_use_the_default() -> None:
    watch = DrainWatch(ACK)
    watch.update([report("long", ttl=30), report("odd", ttl="soon")], 0.0)
    watch.failed()
    watch.update([], 1.0)
    assert ids(watch.update([], 5.0)) == ["long"]  # odd: the 3 s default has passed


def test_new_process_after_a_gap_is_waited_for() -> None:
    watch = DrainWatch(ACK)
    watch.update([report("a", ACK)], 0.0)
    watch.failed()
    assert ids(watch.update([report("c")], 1.0)) == ["c"]
    assert watch.processes == 2


def test_vanishing_again_after_being_seen_post_gap_is_a_plain_expiry() -> None:
    watch = DrainWatch(ACK)
    watch.update([report("a")], 0.0)
    watch.failed()
    watch.update([report("a")], 1.0)  # back after the restart
    assert watch.update([], 1.5) == []  # then gone while Redis answers: it died


def test_enough_processes_on_every_expected_host_is_no_problem() -> None:
    reports = [report("web1:10:aa"), report("web2:11:bb")]
    assert coverage_problem(reports, min_processes=2, hosts=("web1", "web2")) is None
    assert coverage_problem([], min_processes=0, hosts=()) is None


def test_too_few_processes_and_missing_host_are_both_named() -> None:
    problem = coverage_problem([report("web1:10:aa")], min_processes=3, hosts=("web1", "web3"))
    assert problem == "1 live gate processes on web1 (at least 3; none on web3)"
    assert coverage_problem([], min_processes=1, hosts=()) == (
        "0 live gate processes on no host (at least 1)"
    )
