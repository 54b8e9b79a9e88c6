"""Gate options: one table of names, defaults and parsers, validated once at construction.

Every option has one name everywhere: the keyword argument (``hold_timeout``), and
upper-cased with a ``GATEKEEPER_`` prefix (``GATEKEEPER_HOLD_TIMEOUT``) as environment
variable, Django setting and Flask config key. Keyword arguments win over the lookup
(environment, settings); the lookup wins over the default. A bad value raises
:class:`OptionError` naming the option; secrets are never echoed in the message.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gatekeeper._parsers import (
    default_hostname,
    parse_bool,
    parse_choice,
    parse_header_name,
    parse_hostname,
    parse_networks,
    parse_number,
    parse_paths,
    parse_redis_url,
    parse_secret,
    parse_text,
)
from gatekeeper.core.networks import IPNetwork
from gatekeeper.exceptions import ENV_PREFIX, OptionError, setting_name
from gatekeeper.state.snapshot import RELEASE_CHARS

__all__ = ["ENV_PREFIX", "GateOptions", "OptionError", "build_options", "setting_name"]

DEFAULT_MESSAGE = "We are upgrading this site. This page will reload by itself when we are back."


@dataclass(frozen=True)
class GateOptions:
    """The validated configuration of a gate. Build it with :func:`build_options`."""

    redis_url: str = "redis://localhost:6379/0"
    prefix: str = "gatekeeper"
    hold_timeout: float = 15.0
    max_held: int = 5000
    poll_interval: float = 1.0
    stale_timeout: float = 10.0
    connect_timeout: float = 1.0
    fail_mode: str = "open"
    readonly_writes: str = "hold"
    health_paths: tuple[str, ...] = ("/healthz",)
    exempt_paths: tuple[str, ...] = ()
    exempt_networks: tuple[IPNetwork, ...] = ()
    trusted_proxies: tuple[IPNetwork, ...] = ()
    bypass_secret: str | None = field(default=None, repr=False)
    bypass_header: str = "X-Gatekeeper-Bypass"
    bypass_cookie: str = "gatekeeper_bypass"
    bypass_path: str = "/__gatekeeper__/bypass"
    bypass_max_age: int = 12 * 3600
    bypass_secure_cookie: bool = False
    retry_after: int = 10
    message: str = DEFAULT_MESSAGE
    api_prefixes: tuple[str, ...] = ()
    template: str | None = None
    template_text: str | None = field(default=None, repr=False, compare=False)
    release: str = ""
    """The code this process runs (a version, a git sha): reported in its heartbeat."""
    hostname: str = field(default_factory=default_hostname)
    """The host this process reports (default: the machine's short host name)."""
    drain_health: bool = False
    """Health paths answer 503 while keep-alive is off for this process (a reload)."""
    max_held_writes: int | None = None
    """Writes a WSGI process holds at once under readonly (``None``: auto, see _threads)."""
    handoff_delay: float = 0.5
    """Under a handoff, how long a request that arrives at a process of the old release
    waits before its redirect: a process still accepting during a rolling restart then
    cannot bounce the same client round quickly (see README, "Handoff")."""
    handoff_api: str = "reject"
    """Under a handoff, requests under ``api_prefixes`` get the 503 with ``Retry-After``
    (``reject``; clients that do not follow redirects retry it) or the redirect."""


Parser = Callable[[str, object], Any]

_PARSERS: dict[str, Parser] = {
    "redis_url": parse_redis_url,
    "prefix": lambda name, v: parse_text(name, v, pattern=r"[A-Za-z0-9_.:{}-]{1,100}"),
    "hold_timeout": lambda name, v: parse_number(name, v, low=0.0, high=3600.0, open_low=True),
    "max_held": lambda name, v: int(parse_number(name, v, low=0, high=10**6, integer=True)),
    "max_held_writes": lambda name, v: (
        None
        if isinstance(v, str) and v.strip().lower() == "auto"
        else int(parse_number(name, v, low=0, high=10**6, integer=True))
    ),
    "poll_interval": lambda name, v: parse_number(name, v, low=0.05, high=60.0),
    "stale_timeout": lambda name, v: parse_number(name, v, low=0.0, high=86400.0),
    "connect_timeout": lambda name, v: parse_number(name, v, low=0.01, high=30.0),
    "fail_mode": lambda name, v: parse_choice(name, v, ("open", "closed")),
    "readonly_writes": lambda name, v: parse_choice(name, v, ("hold", "reject")),
    "health_paths": parse_paths,
    "exempt_paths": parse_paths,
    "exempt_networks": parse_networks,
    "trusted_proxies": parse_networks,
    "bypass_secret": parse_secret,
    "bypass_header": parse_header_name,
    "bypass_cookie": lambda name, v: parse_text(name, v, pattern=r"[A-Za-z0-9_.-]{1,64}"),
    "bypass_path": lambda name, v: parse_paths(name, v, single=True)[0],
    "bypass_max_age": lambda name, v: int(
        parse_number(name, v, low=60, high=30 * 86400, integer=True)
    ),
    "bypass_secure_cookie": parse_bool,
    "retry_after": lambda name, v: int(parse_number(name, v, low=1, high=86400, integer=True)),
    "message": lambda name, v: parse_text(name, v, max_length=2000),
    "api_prefixes": parse_paths,
    "template": lambda name, v: parse_text(name, v, max_length=4096),
    "release": lambda name, v: parse_text(name, v, pattern=RELEASE_CHARS + "{0,100}"),
    "hostname": parse_hostname,
    "drain_health": parse_bool,
    "handoff_delay": lambda name, v: parse_number(name, v, low=0.0, high=10.0),
    "handoff_api": lambda name, v: parse_choice(name, v, ("reject", "redirect")),
}

OPTION_NAMES = tuple(_PARSERS)


def parse_option(name: str, raw: object) -> Any:
    """Validate one option's value on its own (the CLI's ``--redis-url``, ``--prefix``)."""
    return _PARSERS[name](name, raw)


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
    unknown = sorted(set(given) - set(_PARSERS))
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, OPTION_NAMES, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise OptionError(name, f"unknown option{hint}")

    values: dict[str, Any] = {}
    for name, parser in _PARSERS.items():
        raw = given.get(name)
        if raw is None:
            raw = lookup(setting_name(name))
        if raw is None:
            continue
        values[name] = parser(name, raw)

    if values.get("template"):
        values["template_text"] = _read_template(values["template"])
    options = GateOptions(**values)
    _check_combinations(options)
    return options


def _read_template(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError("template", f"cannot read {path!r}: {exc.__class__.__name__}") from None


def _check_combinations(options: GateOptions) -> None:
    if options.bypass_secret and options.bypass_path.rstrip("/") in {"", "/"}:
        raise OptionError("bypass_path", "must not be '/'")
    overlap = set(options.health_paths) & set(options.api_prefixes)
    if overlap:
        raise OptionError("api_prefixes", f"{sorted(overlap)[0]!r} is also a health path")


def option_fields() -> list[str]:
    """Names of all options, in documentation order."""
    return [f.name for f in fields(GateOptions) if f.name in _PARSERS]
