"""The percentile and median the load generator, the benchmarks and the demo all report.

Linear interpolation between closest ranks, numpy's default definition. Pure, and free
of any benchmark import, so that the demo and the tests can use it too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["median", "percentile"]


def median(values: Sequence[float]) -> float | None:
    """The median, or ``None`` for no values."""
    return percentile(values, 50)


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The ``pct``-th percentile by linear interpolation between closest ranks.

    Same definition as numpy's default: ``percentile([1, 2, 3, 4], 50) == 2.5``.
    """
    if not values:
        return None
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be within 0..100, not {pct}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
