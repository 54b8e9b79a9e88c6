"""Gate options: one table of names, defaults and parsers, validated once at construction.

Every option has one name everywhere: the keyword argument (``hold_timeout``), and
upper-cased with a ``GATEKEEPER_`` prefix (``GATEKEEPER_HOLD_TIMEOUT``) as environment
variable, Django setting and Flask config key. Keyword arguments win over the lookup
(environment, settings); the lookup wins over the default. A bad value raises
:class:`OptionError` naming the option; secrets are never echoed in the message.

The table is :class:`GateOptions` itself: each option field carries its rule (parser,
expected text, Django check id). :data:`OPTIONS` reads it back as rows, from which
:func:`build_options`, :func:`parse_option` and the Django system checks are built, and
against which a test checks the README's Options table (``tools/options_table.py``
rewrites that table).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gatekeeper._option_checks import check_combinations, read_template
from gatekeeper._option_rules import (
    Option,
    choice,
    computed_option,
    number,
    option,
    rule,
    table_rows,
    text,
)
from gatekeeper._parsers import (
    BYPASS_KEY_TEXT,
    METRICS_TEXT,
    default_hostname,
    parse_bool,
    parse_header_name,
    parse_hostname,
    parse_metrics,
    parse_networks,
    parse_paths,
    parse_redis_url,
    parse_secret,
)
from gatekeeper.core.networks import IPNetwork
from gatekeeper.exceptions import ENV_PREFIX, OptionError, setting_name
from gatekeeper.observe._recorder import MetricsBackend
from gatekeeper.state.snapshot import RELEASE_CHARS

__all__ = [
    "ENV_PREFIX",
    "OPTIONS",
    "OPTION_NAMES",
    "FailMode",
    "GateOptions",
    "HandoffApi",
    "Option",
    "OptionError",
    "ReadonlyWrites",
    "build_options",
    "option_default",
    "parse_option",
    "setting_name",
]

DEFAULT_MESSAGE = "We are upgrading this site. This page will reload by itself when we are back."

FailMode = Literal["open", "closed"]
"""What unreachable Redis and an unknown state value mean: pass requests, or the 503."""
ReadonlyWrites = Literal["hold", "reject"]
"""Writes under ``readonly``: held like ``hold``, or the read-only 503 at once."""
HandoffApi = Literal["reject", "redirect"]
"""API requests under a handoff: the 503 with ``Retry-After``, or the redirect."""

_PATHS = "URL paths starting with /, a list or comma-separated"
_NETWORKS = "addresses or CIDR networks, e.g. 10.0.0.0/8"
_BOOL = "true or false"


@dataclass(frozen=True)
class GateOptions:
    """The validated configuration of a gate. Build it with :func:`build_options`.

    Field order is documentation order (the README, the Django checks). A new option
    goes at the end with the next check id, so that existing ids never change.
    """

    redis_url: str = option(
        "redis://localhost:6379/0",
        rule(
            "gatekeeper.E001",
            parse_redis_url,
            "a redis://, rediss://, unix://, redis+sentinel:// or redis+cluster:// URL",
        ),
    )
    prefix: str = option(
        "gatekeeper",
        text(
            "gatekeeper.E002",
            "1-100 characters from A-Z a-z 0-9 _ . : { } -",
            pattern=r"[A-Za-z0-9_.:{}-]{1,100}",
        ),
    )
    hold_timeout: float = option(15.0, number("gatekeeper.E003", 0, 3600, open_low=True))
    max_held: int = option(
        5000, number("gatekeeper.E004", 0, 10**6, integer=True, what="a whole number")
    )
    poll_interval: float = option(1.0, number("gatekeeper.E005", 0.05, 60))
    stale_timeout: float = option(10.0, number("gatekeeper.E006", 0, 86400))
    connect_timeout: float = option(1.0, number("gatekeeper.E007", 0.01, 30))
    # RUF009 (a call as a dataclass default) only fires where ruff cannot tell a Literal
    # type is immutable; option() returns a dataclasses.field, which is evaluated once.
    fail_mode: FailMode = option("open", choice("gatekeeper.E008", FailMode))  # noqa: RUF009
    readonly_writes: ReadonlyWrites = option(  # noqa: RUF009
        "hold", choice("gatekeeper.E009", ReadonlyWrites)
    )
    health_paths: tuple[str, ...] = option(
        ("/healthz",), rule("gatekeeper.E010", parse_paths, _PATHS)
    )
    exempt_paths: tuple[str, ...] = option((), rule("gatekeeper.E011", parse_paths, _PATHS))
    exempt_networks: tuple[IPNetwork, ...] = option(
        (), rule("gatekeeper.E012", parse_networks, _NETWORKS)
    )
    trusted_proxies: tuple[IPNetwork, ...] = option(
        (), rule("gatekeeper.E013", parse_networks, _NETWORKS)
    )
    bypass_secret: str | None = option(
        None, rule("gatekeeper.E014", parse_secret, BYPASS_KEY_TEXT), secret=True
    )
    bypass_header: str = option(
        "X-Gatekeeper-Bypass", rule("gatekeeper.E015", parse_header_name, "an HTTP header name")
    )
    bypass_cookie: str = option(
        "gatekeeper_bypass",
        text(
            "gatekeeper.E016",
            "a cookie name, 1-64 characters from A-Z a-z 0-9 _ . -",
            pattern=r"[A-Za-z0-9_.-]{1,64}",
        ),
    )
    bypass_path: str = option(
        "/__gatekeeper__/bypass",
        rule(
            "gatekeeper.E017",
            lambda name, v: parse_paths(name, v, single=True)[0],
            "one URL path starting with /, not / itself",
        ),
    )
    bypass_max_age: int = option(
        12 * 3600,
        number("gatekeeper.E018", 60, 30 * 86400, integer=True, what="whole seconds"),
    )
    bypass_secure_cookie: bool = option(False, rule("gatekeeper.E019", parse_bool, _BOOL))
    retry_after: int = option(
        10, number("gatekeeper.E020", 1, 86400, integer=True, what="whole seconds")
    )
    message: str = option(
        DEFAULT_MESSAGE,
        text(
            "gatekeeper.E021",
            "text of at most 2000 characters",
            max_length=2000,
            default_doc="a short upgrade note",
        ),
    )
    api_prefixes: tuple[str, ...] = option(
        (),
        rule(
            "gatekeeper.E022", parse_paths, "URL paths starting with /, none of them a health path"
        ),
    )
    template: str | None = option(
        None,
        text(
            "gatekeeper.E023",
            "the path of a readable UTF-8 file",
            max_length=4096,
            default_doc="(built in)",
        ),
    )
    template_text: str | None = field(default=None, repr=False, compare=False)
    """Not an option: the ``template`` file's text, read once by :func:`build_options`."""
    release: str = option(
        "",
        text(
            "gatekeeper.E024",
            "at most 100 characters from A-Z a-z 0-9 . _ : + / @ ~ -",
            pattern=RELEASE_CHARS + "{0,100}",
        ),
    )
    """The code this process runs (a version, a git sha): reported in its heartbeat."""
    hostname: str = computed_option(
        default_hostname,
        rule(
            "gatekeeper.E025",
            parse_hostname,
            "a host name (only the part before the first dot is used)",
            default_doc="the machine's host name up to its first dot",
        ),
    )
    """The host this process reports (default: the machine's short host name)."""
    drain_health: bool = option(False, rule("gatekeeper.E026", parse_bool, _BOOL))
    """Health paths answer 503 while keep-alive is off for this process (a reload)."""
    max_held_writes: int | None = option(
        None,
        number(
            "gatekeeper.E027",
            0,
            10**6,
            integer=True,
            what="a whole number",
            auto=True,
            default_doc="`auto`",
        ),
    )
    """Writes a WSGI process holds at once under readonly (``None``: auto, see
    ``middleware/_write_cap.py``)."""
    handoff_delay: float = option(0.5, number("gatekeeper.E028", 0, 10))
    """Under a handoff, how long a request that arrives at a process of the old release
    waits before its redirect: a process still accepting during a rolling restart then
    cannot bounce the same client round quickly (see README, "Handoff")."""
    handoff_api: HandoffApi = option("reject", choice("gatekeeper.E029", HandoffApi))  # noqa: RUF009
    """Under a handoff, requests under ``api_prefixes`` get the 503 with ``Retry-After``
    (``reject``; clients that do not follow redirects retry it) or the redirect."""
    metrics: tuple[MetricsBackend, ...] = option(
        (), rule("gatekeeper.E030", parse_metrics, METRICS_TEXT)
    )
    """Where the gate's figures go: Prometheus (``prometheus_client``), OpenTelemetry
    (``opentelemetry-api``), both or neither (see README, "Observing a deploy")."""
    metrics_path: str | None = option(
        None,
        rule(
            "gatekeeper.E031",
            lambda name, v: parse_paths(name, v, single=True)[0],
            "one URL path starting with /; needs prometheus in metrics",
        ),
    )
    """The path where the middleware serves the Prometheus scrape itself, in every state."""


OPTIONS: tuple[Option, ...] = table_rows(GateOptions)
"""The options table, in documentation order."""
OPTION_NAMES: tuple[str, ...] = tuple(row.name for row in OPTIONS)
_BY_NAME: dict[str, Option] = {row.name: row for row in OPTIONS}


def parse_option(name: str, raw: object) -> Any:
    """Validate one option's value on its own (the CLI's ``--redis-url``, ``--prefix``)."""
    return _BY_NAME[name].parse(name, raw)


def option_default(name: str) -> Any:
    """The default of option ``name`` (the CLI's fallback when neither flag nor variable)."""
    return _BY_NAME[name].default


def _env_lookup(name: str) -> object | None:
    return os.environ.get(name)


def build_options(
    kwargs: Mapping[str, object] | None = None,
    lookup: Callable[[str], object | None] = _env_lookup,
) -> GateOptions:
    """Validate keyword options, falling back to ``lookup(GATEKEEPER_NAME)``.

    ``lookup`` defaults to the environment; Django and Flask pass their settings. A
    ``None`` keyword value counts as "not given".
    """
    given = dict(kwargs or {})
    unknown = sorted(set(given) - set(_BY_NAME))
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, OPTION_NAMES, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise OptionError(name, f"unknown option{hint}")

    values: dict[str, Any] = {}
    for row in OPTIONS:
        raw = given.get(row.name)
        if raw is None:
            raw = lookup(setting_name(row.name))
        if raw is None:
            continue
        values[row.name] = row.parse(row.name, raw)

    if values.get("template"):
        values["template_text"] = read_template(values["template"])
    options = GateOptions(**values)
    check_combinations(options)
    return options


def option_fields() -> list[str]:
    """Names of all options, in documentation order."""
    return list(OPTION_NAMES)
