"""The README's Options table agrees with the options table in code.

The rule: the README lists every option once, in the table's order, and each default
cell is the row's ``default_doc`` (the default as one would set it, in backticks, or the
row's words for it). ``python -m tools.options_table`` rewrites the README to agree.
"""

from __future__ import annotations

import pytest

from gatekeeper.options import OPTION_NAMES, OPTIONS
from tools.options_table import README, ReadmeRow, readme_rows, render

FIX = "the README's Options table disagrees with the code: python -m tools.options_table"


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def table(readme: str) -> list[ReadmeRow]:
    return readme_rows(readme)


def test_readme_options_table_names_every_option_in_table_order(table: list[ReadmeRow]) -> None:
    names = [row.name for row in table]
    assert sorted(set(OPTION_NAMES) - set(names)) == [], f"options missing; {FIX}"
    assert sorted(set(names) - set(OPTION_NAMES)) == [], f"rows that are no option; {FIX}"
    assert names == list(OPTION_NAMES), f"order; {FIX}"


def test_readme_default_cells_equal_the_documented_defaults(table: list[ReadmeRow]) -> None:
    cells = {row.name: row.default for row in table}
    assert cells == {row.name: row.default_doc for row in OPTIONS}, FIX


def test_readme_meanings_are_written(table: list[ReadmeRow]) -> None:
    empty = [row.name for row in table if not row.meaning.strip() or "TODO" in row.meaning]
    assert empty == []


def test_agreeing_readme_is_left_unchanged_by_the_generator(readme: str) -> None:
    assert render(readme) == readme, FIX


def test_generator_puts_a_missing_option_back_in_its_place(readme: str) -> None:
    row = "| `stale_timeout` | `10` |"
    without = "\n".join(line for line in readme.splitlines() if not line.startswith(row)) + "\n"
    assert [r.name for r in readme_rows(without)].count("stale_timeout") == 0
    regenerated = [r for r in readme_rows(render(without)) if r.name == "stale_timeout"]
    assert [(r.default, r.meaning) for r in regenerated] == [("`10`", "TODO: say what it does")]
    assert [r.name for r in readme_rows(render(without))] == list(OPTION_NAMES)
