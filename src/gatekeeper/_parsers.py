"""Parsers for option values that arrive typed (keywords) or as strings (environment).

Each takes the option's keyword name, for the error message, and the raw value.
"""

from __future__ import annotations

import math
import re
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from gatekeeper._redis_urls import SCHEMES_TEXT, parse_target
from gatekeeper.core.networks import IPNetwork
from gatekeeper.exceptions import OptionError

__all__ = [
    "BYPASS_KEY_TEXT",
    "choices_text",
    "default_hostname",
    "parse_bool",
    "parse_choice",
    "parse_header_name",
    "parse_hostname",
    "parse_networks",
    "parse_number",
    "parse_paths",
    "parse_redis_url",
    "parse_secret",
    "parse_text",
    "plain_number",
    "range_text",
    "redact_url",
]

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_SECRET = re.compile(r"[A-Za-z0-9._~-]{16,256}")
BYPASS_KEY_TEXT = "16 to 256 characters from A-Z a-z 0-9 . _ ~ - (it becomes part of a URL)"
"""What a bypass secret (``_SECRET``) may be, as both the error and the options table
word it. Not named ``*SECRET*``: ruff's S105 would take the words for a password."""


def _items(option: str, value: object) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        items = []
        for item in value:
            if not isinstance(item, str):
                raise OptionError(option, f"expected strings, got {type(item).__name__}")
            items.append(item.strip())
        return [item for item in items if item]
    raise OptionError(
        option, f"expected a comma-separated string or a list, got {type(value).__name__}"
    )


def parse_number(
    option: str,
    value: object,
    *,
    low: float,
    high: float,
    integer: bool = False,
    open_low: bool = False,
) -> float:
    if isinstance(value, bool):
        raise OptionError(option, "expected a number, got a boolean")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise OptionError(option, f"expected a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise OptionError(option, f"expected a finite number, got {number}")
    if integer and number != int(number):
        raise OptionError(option, f"expected a whole number, got {number}")
    too_low = number <= low if open_low else number < low
    if too_low or number > high:
        bounds = range_text(low, high, open_low=open_low)
        raise OptionError(option, f"must be {bounds}, got {plain_number(number)}")
    return number


def range_text(low: float, high: float, *, open_low: bool = False) -> str:
    """``> 0 and <= 3600``: the bounds as both the error and the options table word them."""
    bound = f"> {plain_number(low)}" if open_low else f">= {plain_number(low)}"
    return f"{bound} and <= {plain_number(high)}"


def plain_number(number: float) -> str:
    """``2592000`` rather than ``2.592e+06``, ``15`` rather than ``15.0``."""
    return str(int(number)) if number == int(number) and abs(number) < 1e15 else f"{number:g}"


def parse_bool(option: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise OptionError(option, f"expected true or false, got {text[:40]!r}")


def parse_choice(option: str, value: object, choices: Sequence[str]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise OptionError(option, f"expected {choices_text(choices)}, got {text[:40]!r}")
    return text


def choices_text(choices: Sequence[str]) -> str:
    """``one of open, closed``: the choices as both the error and the options table word them."""
    return f"one of {', '.join(choices)}"


def parse_text(
    option: str, value: object, *, pattern: str | None = None, max_length: int = 200
) -> str:
    if not isinstance(value, str):
        raise OptionError(option, f"expected a string, got {type(value).__name__}")
    if len(value) > max_length:
        raise OptionError(option, f"longer than {max_length} characters")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise OptionError(option, f"{value[:40]!r} does not match {pattern}")
    return value


def parse_paths(option: str, value: object, *, single: bool = False) -> tuple[str, ...]:
    items = [value] if single and isinstance(value, str) else _items(option, value)
    for item in items:
        if not isinstance(item, str) or not item.startswith("/"):
            raise OptionError(option, f"paths must start with '/', got {str(item)[:40]!r}")
        if any(ch.isspace() for ch in item) or "?" in item or "#" in item:
            raise OptionError(option, f"{item[:40]!r} is not a plain URL path")
    return tuple(items)


_METRICS = {"prometheus": "prometheus_client", "otel": "opentelemetry"}
_METRICS_EXTRA = {"prometheus": "gatekeeper-deploy[prometheus]", "otel": "opentelemetry-api"}
METRICS_TEXT = "prometheus, otel, or both, comma-separated; off for none"


def parse_metrics(option: str, value: object) -> tuple[str, ...]:
    """The metrics backends, each checked to be installed now (a gate built with a
    backend it cannot load fails at construction, not at its first hold)."""
    import importlib.util

    items = _items(option, value)
    if [item.lower() for item in items] in (["off"], ["none"]):
        return ()
    chosen: list[str] = []
    for item in items:
        name = item.lower()
        if name not in _METRICS:
            raise OptionError(option, f"expected {METRICS_TEXT}, got {item[:40]!r}")
        if importlib.util.find_spec(_METRICS[name]) is None:
            raise OptionError(
                option, f"{name!r} needs {_METRICS[name]}: pip install '{_METRICS_EXTRA[name]}'"
            )
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


def parse_networks(option: str, value: object) -> tuple[IPNetwork, ...]:
    import ipaddress

    networks: list[IPNetwork] = []
    for item in _items(option, value):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise OptionError(option, f"{item[:60]!r} is not an address or CIDR network") from None
    return tuple(networks)


def parse_header_name(option: str, value: object) -> str:
    text = parse_text(option, value, max_length=64)
    if not _TOKEN.fullmatch(text):
        raise OptionError(option, f"{text[:40]!r} is not a valid header name")
    return text


_HOST = re.compile(r"[A-Za-z0-9_-]{1,63}")


def default_hostname() -> str:
    """The machine's host name up to its first dot, as processes report it."""
    return socket.gethostname().split(".")[0][:40] or "host"


def parse_hostname(option: str, value: object) -> str:
    """A host name; only its first label is kept (``web-1.internal`` -> ``web-1``), the
    form the CLI's ``--host`` and ``--expect-host`` compare with."""
    text = parse_text(option, value, max_length=253).strip()
    label = text.split(".")[0]
    if not _HOST.fullmatch(label):
        raise OptionError(option, f"{text[:40]!r} is not a host name (A-Z a-z 0-9 _ -, dots)")
    return label


def parse_secret(option: str, value: object) -> str:
    # The value itself never goes into an error message.
    if not isinstance(value, str):
        raise OptionError(option, f"expected a string, got {type(value).__name__}")
    if not _SECRET.fullmatch(value):
        raise OptionError(
            option,
            f"must be {BYPASS_KEY_TEXT}; try: python -c 'import secrets; "
            "print(secrets.token_urlsafe(24))'",
        )
    return value


def parse_redis_url(option: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OptionError(option, f"expected a Redis URL ({SCHEMES_TEXT})")
    url = value.strip()
    try:
        parse_target(url)
    except (ValueError, TypeError) as exc:
        detail = str(exc).replace(url, redact_url(url))
        raise OptionError(option, f"{redact_url(url)!r} is not a Redis URL: {detail}") from None
    return url


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe to log or print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        # A bare userinfo ("redis://s3cret@host") is often a password put in the wrong
        # place, so it is hidden as well.
        netloc = f"{user}:***@{host}" if colon else f"***@{host}"
    query = parts.query
    if "password=" in query:
        query = re.sub(r"password=[^&]*", "password=***", query)
    # Replace in place rather than re-assemble: urlunsplit drops the "//" of unix:///.
    redacted = url.replace(parts.netloc, netloc, 1) if netloc != parts.netloc else url
    return redacted.replace(parts.query, query, 1) if query != parts.query else redacted
