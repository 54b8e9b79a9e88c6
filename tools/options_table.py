"""The README's Options table, generated from the options table in code.

::

    python -m tools.options_table          # rewrite README.md's Options table in place
    python -m tools.options_table --check  # exit 1, printing a diff, if they disagree

The ``option`` and ``default`` columns come from :data:`gatekeeper.options.OPTIONS` (names
in table order, each default cell the row's ``default_doc``); the ``meaning`` column is
prose and is kept as the README has it, so only a new option's meaning needs writing
(it gets a placeholder). ``tests/test_readme_options.py`` fails while they disagree.
Not part of the installed package.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from gatekeeper.options import OPTIONS

__all__ = ["README", "ReadmeRow", "readme_rows", "render"]

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Options"
HEADER = ("| option | default | meaning |", "|---|---|---|")
PLACEHOLDER = "TODO: say what it does"

# A row of the table: the option name in backticks, then the default and meaning cells.
# The default cell holds no " | " (no default is written with a pipe), the meaning may.
_ROW = re.compile(r"\| `(?P<name>[a-z_]+)` \| (?P<default>.*?) \| (?P<meaning>.*) \|")


@dataclass(frozen=True)
class ReadmeRow:
    name: str
    default: str
    meaning: str


def _table_span(lines: list[str]) -> tuple[int, int]:
    """``lines[start:end]`` are the table's rows, after its header, in the Options section."""
    try:
        section = lines.index(SECTION)
    except ValueError:
        raise SystemExit(f"README.md has no {SECTION!r} section") from None
    for at in range(section + 1, len(lines) - 1):
        if lines[at].startswith("## "):
            break
        if (lines[at], lines[at + 1]) == HEADER:
            end = start = at + 2
            while end < len(lines) and lines[end].startswith("| "):
                end += 1
            return start, end
    raise SystemExit(f"no {HEADER[0]!r} table under {SECTION!r} in README.md")


def readme_rows(text: str) -> list[ReadmeRow]:
    """The rows of the README's Options table, in their order."""
    lines = text.splitlines()
    start, end = _table_span(lines)
    rows = []
    for line in lines[start:end]:
        match = _ROW.fullmatch(line)
        if match is None:
            raise ValueError(f"not an options row: {line[:80]!r}")
        rows.append(ReadmeRow(**match.groupdict()))
    return rows


def render(text: str) -> str:
    """``text`` with its Options table's rows made from the options table in code."""
    lines = text.splitlines()
    start, end = _table_span(lines)
    meanings = {row.name: row.meaning for row in readme_rows(text)}
    rows = [
        f"| `{row.name}` | {row.default_doc} | {meanings.get(row.name, PLACEHOLDER)} |"
        for row in OPTIONS
    ]
    return "\n".join([*lines[:start], *rows, *lines[end:]]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.options_table", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare, exit 1 on a diff")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    wanted = render(text)
    if wanted == text:
        return 0
    if args.check:
        diff = difflib.unified_diff(
            text.splitlines(keepends=True), wanted.splitlines(keepends=True), "README.md", "code"
        )
        sys.stdout.writelines(diff)
        return 1
    README.write_text(wanted, encoding="utf-8")
    print(f"rewrote the Options table of {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
