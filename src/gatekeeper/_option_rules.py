"""The vocabulary of the options table: how one option's value is checked and described.

Each option of :class:`~gatekeeper.options.GateOptions` is a field declared with
:func:`option` and a :class:`Rule`: the field gives the name, type and default, the rule
the parser, the text saying what a valid value is and the Django check id. So an option
is written down once, and mypy checks its default against its type. :func:`table_rows`
reads the fields back as :class:`Option` rows, the table everything else iterates.

The builders :func:`number` and :func:`choice` word the expected text from the same
bounds and choices their parser enforces (through :func:`~gatekeeper._parsers.range_text`
and :func:`~gatekeeper._parsers.choices_text`, which the error messages use too), so the
Django hint and the error cannot disagree with the check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar, get_args

from gatekeeper._parsers import (
    choices_text,
    parse_choice,
    parse_number,
    parse_text,
    plain_number,
    range_text,
)

__all__ = [
    "RULE_KEY",
    "Option",
    "Parser",
    "Rule",
    "choice",
    "computed_option",
    "number",
    "option",
    "rule",
    "table_rows",
    "text",
]

T = TypeVar("T")

Parser = Callable[[str, object], Any]
"""``parse(option_name, raw) -> value``; raises :class:`~gatekeeper.OptionError`."""

RULE_KEY = "gatekeeper.rule"
"""The key of a field's :class:`Rule` in its ``dataclasses.Field.metadata``."""


@dataclass(frozen=True)
class Rule:
    """What makes one option's value valid, and how that is reported."""

    check_id: str
    """The Django system check id (``gatekeeper.E003``): stable, never reused."""
    parse: Parser
    expected: str
    """What a valid value is (``seconds, > 0 and <= 3600``), for the Django check's hint."""
    default_doc: str | None = None
    """The README's default cell, when the default is not shown as a value one could set
    (``(built in)``, or ``auto`` for a ``None`` that means auto)."""


def option(default: T, rule: Rule, *, secret: bool = False) -> T:
    """A dataclass field: ``hold_timeout: float = option(15.0, number(...))``.

    ``secret`` keeps the value out of ``repr`` (and so out of logs and tracebacks).
    """
    # typeshed types field() as returning its default's type, so mypy checks the default
    # against the field's annotation as it would a plain ``= 15.0``.
    return field(default=default, repr=not secret, metadata={RULE_KEY: rule})


def computed_option(factory: Callable[[], T], rule: Rule) -> T:
    """An option whose default is computed when the options are built (the host name)."""
    return field(default_factory=factory, metadata={RULE_KEY: rule})


def rule(check_id: str, parse: Parser, expected: str, *, default_doc: str | None = None) -> Rule:
    """A rule with a hand-written parser and expected text (URLs, paths, networks)."""
    return Rule(check_id, parse, expected, default_doc)


def number(
    check_id: str,
    low: float,
    high: float,
    *,
    what: str = "seconds",
    integer: bool = False,
    open_low: bool = False,
    auto: bool = False,
    default_doc: str | None = None,
) -> Rule:
    """A number within bounds; ``integer`` makes it an ``int``; ``auto`` accepts the word
    ``auto`` as ``None`` (the gate then picks the value itself)."""

    def parse(name: str, raw: object) -> float | None:
        if auto and isinstance(raw, str) and raw.strip().lower() == "auto":
            return None
        value = parse_number(name, raw, low=low, high=high, integer=integer, open_low=open_low)
        return int(value) if integer else value

    expected = f"{what}, {range_text(low, high, open_low=open_low)}"
    return Rule(check_id, parse, expected + (', or "auto"' if auto else ""), default_doc)


def choice(check_id: str, alias: object) -> Rule:
    """One of the strings of a ``Literal`` alias: the alias is the field's type too, so
    the accepted values and the type cannot drift apart."""
    choices: tuple[str, ...] = get_args(alias)
    if not choices or not all(isinstance(c, str) for c in choices):
        raise TypeError(f"choice() needs a Literal of strings, got {alias!r}")

    def parse(name: str, raw: object) -> str:
        return parse_choice(name, raw, choices)

    return Rule(check_id, parse, choices_text(choices))


def text(
    check_id: str,
    expected: str,
    *,
    pattern: str | None = None,
    max_length: int = 200,
    default_doc: str | None = None,
) -> Rule:
    """A string, at most ``max_length`` long, matching ``pattern`` in full if given."""

    def parse(name: str, raw: object) -> str:
        return parse_text(name, raw, pattern=pattern, max_length=max_length)

    return Rule(check_id, parse, expected, default_doc)


@dataclass(frozen=True)
class Option:
    """One row of the options table: a field of ``GateOptions`` with its :class:`Rule`."""

    name: str
    default: object
    """The value when not given (``hostname``: this machine's, computed at import)."""
    parse: Parser
    expected: str
    check_id: str
    default_doc: str
    """The README's default cell: the default as one would set it (`` `15` ``), or words."""


def _doc_default(value: object) -> str:
    # The default written as the environment variable's value, so the README shows what
    # one would set (a test parses it back); no value at all reads "(none)".
    if value is None or value in ("", ()):
        return "(none)"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, (int, float)):
        return f"`{plain_number(value)}`"
    if isinstance(value, tuple):
        return f"`{','.join(str(item) for item in value)}`"
    return f"`{value}`"


def table_rows(table: type[Any]) -> tuple[Option, ...]:
    """The options of a dataclass declared with :func:`option`, in field order."""
    rows: list[Option] = []
    for f in fields(table):
        spec = f.metadata.get(RULE_KEY)
        if not isinstance(spec, Rule):
            continue  # template_text: derived from an option, not one itself
        default = f.default if f.default_factory is MISSING else f.default_factory()
        doc = spec.default_doc or _doc_default(default)
        rows.append(Option(f.name, default, spec.parse, spec.expected, spec.check_id, doc))
    return tuple(rows)
