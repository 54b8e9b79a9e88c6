"""The benchmark runner's plumbing on synthetic numbers: statistics, parsers, targets,
report and SVG. Nothing here starts a server or times anything."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

import benchmarks.__main__ as bench_main
from benchmarks.__main__ import DEFAULT, parse_args
from benchmarks.redisinfo import command_diff, parse_commandstats
from benchmarks.report import render_report, table
from benchmarks.stats import median, percentile, ratio, round_ratios, spread, summarize
from benchmarks.svg import build_panels, render_svg
from benchmarks.targets import judge
from benchmarks.wrk import parse_wrk_output


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
                "floor": {"publish_idle": stats, "publish_busy": stats},
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
