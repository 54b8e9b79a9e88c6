"""Django system check ids: unique, stable, each written once in the source."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import tests.contrib.django_support  # noqa: F401 - configures Django before the checks load
from gatekeeper.contrib.django.checks import CHECK_IDS
from gatekeeper.options import OPTIONS

SRC = Path(__file__).resolve().parents[2] / "src" / "gatekeeper"
_ID_LITERAL = re.compile(r"""["'](gatekeeper\.[EW]\d{3})["']""")


def test_check_ids_are_unique_across_all_checks() -> None:
    repeated = [check_id for check_id, n in Counter(CHECK_IDS).items() if n > 1]
    assert repeated == []


def test_option_check_ids_count_up_in_table_order() -> None:
    # A new option is appended with the next id; inserting one in the middle, or
    # renumbering, would change the id of an option projects may have silenced.
    ids = [row.check_id for row in OPTIONS]
    assert ids == [f"gatekeeper.E{n:03d}" for n in range(1, len(OPTIONS) + 1)]


def test_every_check_id_in_the_source_is_written_once() -> None:
    # An id typed a second time (a hand-written check copying an option's id, or an
    # option given an id already used) is a collision waiting for a rename.
    written = Counter(
        match
        for path in sorted(SRC.rglob("*.py"))
        for match in _ID_LITERAL.findall(path.read_text(encoding="utf-8"))
    )
    assert sorted(check_id for check_id, n in written.items() if n > 1) == []
    assert set(written) == set(CHECK_IDS)
