"""The benchmark runner's plumbing on synthetic numbers: statistics, parsers, targets,
report and SVG. Nothing here starts a server or times anything."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

import benchmarks.__main__ as bench_main
from benchmarks.__main__ import DEFAULT, parse_args
from benchmarks.burst_stats import aggregate, burst_stats, nginx_stats
from benchmarks.hold_window import window_overhead, window_summary
from benchmarks.instructions import totals
from benchmarks.redisinfo import command_diff, parse_commandstats
from benchmarks.report import render_report, table
from benchmarks.stats import median, percentile, ratio, round_ratios, spread, summarize
from benchmarks.svg import build_panels, render_svg
from benchmarks.targets import judge
from benchmarks.wrk import parse_wrk_output
from tools.openloop import Record


def test_percentiles_interpolate_like_numpy() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    assert percentile(list(map(float, range(101))), 99) == pytest.approx(99.0)
    assert median([]) is None
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], 101)


def test_ratios_and_summaries() -> None:
    assert ratio(97.0, 100.0) == pytest.approx(0.97)
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 1.0) is None
    assert round_ratios([10.0, 30.0], [10.0, 20.0]) == [1.0, 1.5]
    assert spread([2.0, 1.0, 3.0]) == (1.0, 3.0)
    stats = summarize([1.0, 2.0, 3.0, 4.0])
    assert stats["n"] == 4
    assert stats["max"] == 4.0
    assert stats["mean"] == 2.5


def test_wrk_report_row_has_ms_percentiles_and_error_counts() -> None:
    out = (
        "Running 3s test @ http://127.0.0.1:1/\n"
        "  Latency Distribution\n     50%    1.50ms\n     99%    9.00ms\n"
        "  3000 requests in 3.00s, 1.00MB read\n"
        "  Socket errors: connect 0, read 2, write 0, timeout 1\n"
        "  Non-2xx or 3xx responses: 5\n"
        "Requests/sec:   1000.00\n"
    )
    row = parse_wrk_output(out).row()
    assert row["rps"] == pytest.approx(1000.0)
    assert (row["p50_ms"], row["p99_ms"]) == pytest.approx((1.5, 9.0))
    assert (row["requests"], row["errors"], row["non2xx"]) == (3000, 3, 5)


def test_command_counts_leave_out_info() -> None:
    before = parse_commandstats({"cmdstat_get": {"calls": 5}, "cmdstat_info": {"calls": 1}})
    after = parse_commandstats(
        {"cmdstat_get": {"calls": 9}, "cmdstat_info": {"calls": 2}, "cmdstat_zadd": {"calls": 1}}
    )
    assert command_diff(before, after) == {"get": 4, "zadd": 1}


def _release_pair(gate_ms: float, floor_ms: float, gate_rss: float, floor_rss: float) -> Any:
    rows = {"gate": (gate_ms, gate_rss), "floor": (floor_ms, floor_rss)}
    pair: dict[str, Any] = {
        kind: {"p50_ms": ms, "p99_ms": ms * 2, "max_ms": ms * 2, "rss_per_held": rss, "bad": 0}
        for kind, (ms, rss) in rows.items()
    }
    pair["ratio"] = {
        key: pair["gate"][key] / pair["floor"][key]
        for key in ("p50_ms", "p99_ms", "max_ms", "rss_per_held")
    }
    return pair


def _variant(rps: float, ratio_: float | None) -> dict[str, Any]:
    return {
        "rps": rps,
        "p50_ms": 1.0,
        "p99_ms": 5.0,
        "errors": 0,
        "commands_per_request": 0.0005,
        "cpu_us_per_request": 50.0,
        "cpu_ratio": 1.01,
        "micro_gate_us": 1.0,
        "estimated_rps_ratio": 0.98,
        "commands_max_round": 12,
        "background_allowance": 24,
        "zero_per_request": True,
        "rps_ratio": ratio_,
        "rps_ratio_rounds": (0.95, 1.01),
        "rounds": [],
    }


def _synthetic_results() -> dict[str, Any]:
    every = {"n": 10, "p50": 2.0, "p99": 4.0, "max": 4.5, "mean": 2.1}
    stats = {"n": 20, "p50": 1.0, "p99": 6.0, "max": 7.0, "mean": 1.5}
    apps = {
        "asgi": {
            "label": "pure ASGI",
            "server": "uvicorn",
            "variants": {
                "bare": _variant(1000.0, None),
                "gate": _variant(980.0, 0.98),
                "naive": _variant(300.0, 0.3),
            },
        }
    }
    multi = {"every_process_released_ms": every, "bad": 0, "processes_seen_min": 4}
    return {
        "machine_line": "2 cores, synthetic",
        "sections": {
            "open": {
                "settings": {
                    "rounds": 5,
                    "seconds": 3,
                    "load": "wrk -t2 -c32",
                    "gunicorn": "2 sync workers",
                    "uvicorn": "1 worker",
                },
                "apps": apps,
            },
            "release_asgi": {
                "server": "uvicorn",
                "n": {"1000": _release_pair(30.0, 28.0, 9000, 8000)},
            },
            "release_wsgi": {"server": "gthread", "n_held": 64, **_release_pair(4, 5, 1, 1)},
            "release_multi": {
                "server": "uvicorn --workers 4",
                "n_held": 100,
                "gate": multi,
                "floor": multi,
                "ratio": {"p50": 1.0, "p99": 1.0, "max": 1.0},
            },
            "propagation": {
                "processes": 4,
                "obeyed_via": "HTTP probes",
                "probe_rtt_ms": 0.4,
                "poll_interval_ms": 1000.0,
                "gate": {"publish_idle": stats, "publish_busy": stats, "bare_set": stats},
                "floor": {"publish_idle": {**stats, "p99": 3.0}, "publish_busy": stats},
            },
            "runner": {"skipped": True, "note": "skipped: no CLI"},
        },
        "errors": {},
    }


def test_targets_are_judged() -> None:
    verdicts = {t.metric: t.met for t in judge(_synthetic_results())}
    assert verdicts["pure ASGI: gate req/s / bare"] is True
    assert verdicts["pure ASGI: gate Redis commands / request"] is True
    assert verdicts["pure ASGI: est. req/s kept (bare CPU/req + gate cost)"] is True
    assert verdicts["ASGI 1,000 held: release p50 gate/floor"] is True  # 30/28 = 1.07
    assert verdicts["RSS per held request at 1,000, gate/floor"] is True  # 1.125
    assert verdicts["uvicorn --workers 4: every process released, p99 ms"] is True
    assert verdicts["PUBLISH -> every process (idle), p99 ms"] is False  # 6 ms > 5 ms
    # Busy: the floor's own p99 is 6 ms, so the limit is 1.2x that, not 5 ms.
    assert verdicts["PUBLISH -> every process (busy), p99 ms"] is True
    assert verdicts["bare SET -> every process, max ms"] is True
    assert verdicts["runner overhead"] is None


def test_report_and_svg_render() -> None:
    results = _synthetic_results()
    targets = judge(results)
    text = render_report(results, targets)
    assert "1. Open path" in text
    assert "MISSED" in text
    assert "skipped: no CLI" in text
    svg = render_svg(build_panels(results, {t.metric: t.met for t in targets}), "t", "a; b; c")
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag.endswith("svg")
    assert svg.count("<rect") > 5
    assert table(["a", "b"], [["x", "1"], ["yy", "22"]]).splitlines()[1] == "--  --"


def test_section_selection() -> None:
    assert parse_args([]).sections == DEFAULT
    assert parse_args(["--only", "open,memory", "--only", "runner"]).sections == (
        "open",
        "memory",
        "runner",
    )
    with pytest.raises(SystemExit):
        parse_args(["--only", "nope"])


def test_missing_wrk_stops_the_suite_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_wrk() -> str:
        raise RuntimeError("wrk not found (/usr/bin/wrk): install it")

    monkeypatch.setattr(bench_main, "find_wrk", no_wrk)
    assert bench_main.main(["--quick", "--only", "open"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: wrk not found (/usr/bin/wrk): install it\n"


def _record(
    index: int, sent: float, end: float | None, status: int = 200, error: str | None = None
) -> Record:
    return Record(
        index, "GET", None, scheduled=sent, sent=sent, end=end, status=status, error=error
    )


def test_burst_stats_split_held_post_release_and_drain() -> None:
    hold, release = 1.0, 3.0
    records = [
        _record(0, 0.5, 0.51),  # before the hold
        _record(1, 1.5, 3.2),  # held, answered 0.2 s after the release
        _record(2, 2.5, 3.4),  # held: the last of the backlog ends 0.4 s after it
        _record(3, 3.1, 3.3),  # post-release, 0.2 s
        _record(4, 3.5, 3.6),  # post-release, 0.1 s
        _record(5, 4.0, 4.0, status=0, error="reset"),  # post-release, failed
        _record(6, 4.5, 4.6, status=503),  # post-release, a non-2xx is a failure
        _record(7, 5.5, 5.6),  # after the 2 s window
    ]
    records[3].sent = 3.15  # sent 50 ms late
    stats = burst_stats(records, hold, release)
    assert stats["requests"] == 8
    assert (stats["failed"], stats["failures"]) == (2, {"reset": 1, "status 503": 1})
    assert stats["held"] == 2
    assert stats["post_n"] == 4
    assert stats["post_max_ms"] == pytest.approx(200.0)  # from the scheduled time
    assert stats["post_p50_ms"] == pytest.approx(150.0)
    assert stats["drain_ms"] == pytest.approx(400.0)
    assert stats["max_latency_ms"] == pytest.approx(1700.0)
    assert stats["lateness_max_ms"] == pytest.approx(50.0)
    assert stats["hold_s"] == pytest.approx(2.0)
    # A backlog that ended before the release drains in 0.
    assert burst_stats(records[:1], hold, release)["drain_ms"] == 0.0
    rounds = [
        {**stats, "gate_held": 2},
        {**stats, "failed": 0, "failures": {}, "drain_ms": 600.0, "gate_held": 2},
    ]
    total = aggregate(rounds)
    assert (total["rounds"], total["requests"], total["failed"]) == (2, 16, 2)
    assert total["drain_ms"] == pytest.approx(500.0)
    assert total["drain_max_ms"] == pytest.approx(600.0)
    assert total["post_max_ms"] == pytest.approx(200.0)


def test_nginx_stats_use_the_time_nginx_read_each_request() -> None:
    release = 1000.0
    timings = [
        (998.0, 0.001, 200),  # before the hold
        (999.0, 1.3, 200),  # held: ends 0.3 s after the release
        (1000.2, 0.05, 200),  # post-release
        (1001.5, 0.25, 502),  # post-release, a non-2xx
        (1003.0, 0.001, 200),  # after the window
    ]
    stats = nginx_stats(timings, release)
    assert (stats["nginx_requests"], stats["nginx_non_2xx"], stats["nginx_post_n"]) == (5, 1, 2)
    assert stats["nginx_post_max_ms"] == pytest.approx(250.0)
    assert stats["nginx_post_p50_ms"] == pytest.approx(150.0)
    assert stats["nginx_drain_ms"] == pytest.approx(300.0)
    assert nginx_stats([], release)["nginx_drain_ms"] is None


def test_window_overhead_and_its_target() -> None:
    # Held 1.045 s for a 1.003 s command: 42 ms beyond it.
    assert window_overhead(100.0, 101.045, 100.02, 101.023) * 1000 == pytest.approx(42.0)
    summary = window_summary([20.0, 30.0, 70.0])
    assert (summary["median_ms"], summary["max_ms"], summary["met"]) == (30.0, 70.0, True)
    assert window_summary([60.0, 55.0])["met"] is False
    assert window_summary([])["met"] is None


def _burst_section(failed: int) -> dict[str, Any]:
    rate = {
        "rounds": 2,
        "requests": 5000,
        "failed": failed,
        "failures": {"reset": failed} if failed else {},
        "held": 1200.0,
        "gate_held": 100.0,
        "post_p50_ms": 300.0,
        "post_p99_ms": 900.0,
        "post_max_ms": 1000.0,
        "drain_ms": 950.0,
        "drain_max_ms": 1100.0,
        "max_latency_ms": 7000.0,
        "lateness_max_ms": 20.0,
        "nginx_post_p50_ms": 250.0,
        "nginx_post_p99_ms": 800.0,
        "nginx_drain_ms": 900.0,
    }
    return {
        "hosts": 2,
        "workers": 2,
        "command": "sleep 6",
        "window_s": 2.0,
        "servers": {
            "uvicorn": {"rates": {"200": rate}},
            "gunicorn-gthread": {"rates": {"500": {**rate, "failed": 0, "failures": {}}}},
        },
    }


def _window(median_ms: float) -> dict[str, Any]:
    return {
        "n": 5,
        "median_ms": median_ms,
        "max_ms": median_ms + 10,
        "json_median_ms": median_ms - 1,
        "status_processes": 4,
        "drain_ms": 10.0,
        "spawn_ms": 2.0,
        "exit_ms": 5.0,
        "after_command_ms": 1.0,
    }


def test_burst_and_window_targets_report_and_svg() -> None:
    results = _synthetic_results()
    results["sections"]["burst"] = _burst_section(failed=3)
    results["sections"]["runner"] = {
        "skipped": False,
        "import_floor_s": 0.1,
        "true": {"command": "true", "alone_s": 0.001, "runner_s": 0.3, "overhead_s": 0.299},
        "window": {"1": _window(20.0), "16": _window(65.0)},
    }
    targets = judge(results)
    verdicts = {t.metric: t.met for t in targets}
    assert verdicts["burst uvicorn @ 200 req/s: failed requests"] is False
    assert verdicts["burst gunicorn-gthread @ 500 req/s: failed requests"] is True
    assert verdicts["burst uvicorn @ 200 req/s: post-release p99 ms"] is None  # reported
    assert verdicts["hold window - command, 1 live: median ms"] is True
    assert verdicts["hold window - command, 16 live: median ms"] is False
    text = render_report(results, targets)
    assert "6. Burst after a release" in text
    assert "5b. Hold window beyond the command" in text
    assert "300 / 900 / 1,000" in text
    svg = render_svg(build_panels(results, verdicts), "t", "a; b; c")
    assert ET.fromstring(svg).tag.endswith("svg")
    assert "post-release p99" in svg
    assert "16 live gate processes" in svg


def test_burst_is_a_default_section() -> None:
    assert "burst" in DEFAULT
    assert parse_args(["--only", "burst"]).sections == ("burst",)


def test_callgrind_totals_read_from_the_summary_line() -> None:
    dump = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 461057733\n"
    assert totals(dump) == 461057733
    assert totals("events: Ir\ntotals: 12\n") == 12
    with pytest.raises(ValueError, match="no summary"):
        totals("events: Ir\n")


def test_instruction_ratio_judged_against_097() -> None:
    section = {"skipped": False, "kept_ratio": 0.967, "gate_extra_ir_per_request": 3710.0}
    verdicts = {t.metric: t for t in judge({"sections": {"instructions": section}})}
    target = verdicts["pure ASGI: instructions/request bare / gate (callgrind)"]
    assert target.met is False
    assert "3,710" in target.note
    skipped = judge({"sections": {"instructions": {"skipped": True, "note": "no valgrind"}}})
    assert skipped == []
