"""Small, pure statistics helpers: medians, percentiles, ratios and summaries.

Everything here works on plain lists of floats so it can be tested on synthetic
numbers (``tests/tools/test_benchmarks_smoke.py``) without timing anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.stats import median, percentile

__all__ = ["median", "percentile", "ratio", "round_ratios", "spread", "summarize"]


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``; ``None`` when either is missing or the baseline is zero."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def round_ratios(values: Sequence[float], baselines: Sequence[float]) -> list[float]:
    """Per-round ratios of paired measurements (round ``i`` against round ``i``)."""
    return [v / b for v, b in zip(values, baselines, strict=False) if b]


def spread(values: Sequence[float]) -> tuple[float, float] | None:
    """``(min, max)`` of the values, or ``None``."""
    if not values:
        return None
    return (min(values), max(values))


def summarize(values: Sequence[float]) -> dict[str, float | int | None]:
    """p50 / p99 / max / mean / n of a list of latencies (any unit)."""
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
        "mean": sum(values) / len(values) if values else None,
    }
