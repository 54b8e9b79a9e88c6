"""``longest_wait``: the longest hold, from the reports the runner reads as it settles."""

from __future__ import annotations

from typing import Any

import pytest

from gatekeeper.state.processes import longest_wait


@pytest.mark.parametrize(
    ("reports", "longest"),
    [
        pytest.param([{"held": 0}, {"held": 1}], None, id="none-report-it"),
        pytest.param([{"longest_wait": 1.5}, {"longest_wait": 0.25}, {}], 1.5, id="largest"),
        pytest.param([{"longest_wait": None}], 0.0, id="null-is-zero"),
        pytest.param([{"longest_wait": "x"}, {"longest_wait": "nan"}], None, id="garbage"),
        pytest.param([{"longest_wait": -3}, {"longest_wait": "2"}], 2.0, id="negative"),
        pytest.param([], None, id="no-processes"),
    ],
)
def test_reports_longest_wait_is_the_largest_valid_one(
    reports: list[dict[str, Any]], longest: float | None
) -> None:
    assert longest_wait(reports) == longest
