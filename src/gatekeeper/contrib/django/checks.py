"""System checks: bad ``GATEKEEPER_*`` settings reported by ``manage.py check``.

Each bad option becomes one ``django.core.checks.Error`` whose message is the same
one-line :class:`~gatekeeper.options.OptionError` text the middleware raises as
``ImproperlyConfigured``, so a typo shows up at deploy time, not at the first request.
Ids are stable: one per option (table below, never renumbered), plus two warnings:

- ``gatekeeper.W001``: a ``GATEKEEPER_*`` Django setting that names no option (a typo);
- ``gatekeeper.W002``: the middleware is in ``MIDDLEWARE`` but not first, so requests
  reach the middleware above it (and whatever it does) while the gate holds them;
- ``gatekeeper.W003``: template engines are configured but ``gatekeeper/maintenance.html``
  does not load (``APP_DIRS`` off, or a broken override), so the 503 is the built-in page.

Silence any of them the Django way, with ``SILENCED_SYSTEM_CHECKS``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.checks import Warning as CheckWarning
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import get_template

from gatekeeper.contrib.django.conf import conf
from gatekeeper.contrib.django.pages import TEMPLATE_NAME
from gatekeeper.options import setting_name

__all__ = ["CHECKS", "MIDDLEWARE_PATH", "check_settings"]

MIDDLEWARE_PATH = "gatekeeper.contrib.django.GatekeeperMiddleware"

CHECKS: dict[str, tuple[str, str]] = {
    # option: (check id, what a good value looks like). Append new options at the end.
    "redis_url": ("gatekeeper.E001", "a redis://, rediss:// or unix:// URL"),
    "prefix": ("gatekeeper.E002", "1-100 characters from A-Z a-z 0-9 _ . : { } -"),
    "hold_timeout": ("gatekeeper.E003", "seconds, > 0 and <= 3600 (default 15)"),
    "max_held": ("gatekeeper.E004", "a whole number, 0 to 1000000 (default 5000)"),
    "poll_interval": ("gatekeeper.E005", "seconds, 0.05 to 60 (default 1)"),
    "stale_timeout": ("gatekeeper.E006", "seconds, 0 to 86400 (default 10)"),
    "connect_timeout": ("gatekeeper.E007", "seconds, 0.01 to 30 (default 1)"),
    "fail_mode": ("gatekeeper.E008", '"open" or "closed"'),
    "readonly_writes": ("gatekeeper.E009", '"hold" or "reject"'),
    "health_paths": ("gatekeeper.E010", "URL paths starting with /, a list or comma-separated"),
    "exempt_paths": ("gatekeeper.E011", "URL paths starting with /, a list or comma-separated"),
    "exempt_networks": ("gatekeeper.E012", "addresses or CIDR networks, e.g. 10.0.0.0/8"),
    "trusted_proxies": ("gatekeeper.E013", "addresses or CIDR networks, e.g. 10.0.0.0/8"),
    "bypass_secret": ("gatekeeper.E014", "16-256 URL-safe characters"),
    "bypass_header": ("gatekeeper.E015", "an HTTP header name"),
    "bypass_cookie": ("gatekeeper.E016", "a cookie name, 1-64 characters from A-Z a-z 0-9 _ . -"),
    "bypass_path": ("gatekeeper.E017", "one URL path starting with /, not / itself"),
    "bypass_max_age": ("gatekeeper.E018", "seconds, 60 to 2592000 (default 43200)"),
    "bypass_secure_cookie": ("gatekeeper.E019", "true or false"),
    "retry_after": ("gatekeeper.E020", "whole seconds, 1 to 86400 (default 10)"),
    "message": ("gatekeeper.E021", "text of at most 2000 characters"),
    "api_prefixes": ("gatekeeper.E022", "URL paths starting with /, none of them a health path"),
    "template": ("gatekeeper.E023", "the path of a readable UTF-8 file"),
    "release": ("gatekeeper.E024", "at most 100 characters from A-Z a-z 0-9 . _ : + / @ ~ -"),
    "hostname": ("gatekeeper.E025", "a host name (only the part before the first dot is used)"),
    "drain_health": ("gatekeeper.E026", "true or false"),
    "max_held_writes": ("gatekeeper.E027", 'a whole number, 0 to 1000000, or "auto"'),
    "handoff_delay": ("gatekeeper.E028", "seconds, 0 to 10 (default 0.5)"),
    "handoff_api": ("gatekeeper.E029", '"reject" or "redirect"'),
}

OTHER_ERROR = "gatekeeper.E099"
"""For an option missing from :data:`CHECKS` (a test keeps the table complete)."""
_ANY_VALID = "a value the README's Options table allows"


def check_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Registered by the app config; runs with every ``manage.py check``."""
    messages: list[CheckMessage] = []
    for problem in conf.problems():
        check_id, expected = CHECKS.get(problem.option, (OTHER_ERROR, _ANY_VALID))
        hint = f"The value comes from {conf.source(problem.option)}; expected {expected}."
        messages.append(Error(str(problem), hint=hint, id=check_id))
    for name in conf.unknown_settings():
        close = difflib.get_close_matches(name, [setting_name(o) for o in CHECKS], n=1)
        messages.append(
            CheckWarning(
                f"{name} is not a gatekeeper setting and is ignored.",
                hint=f"Did you mean {close[0]}?" if close else "See the README's Options.",
                id="gatekeeper.W001",
            )
        )
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    if MIDDLEWARE_PATH in middleware and middleware[0] != MIDDLEWARE_PATH:
        messages.append(
            CheckWarning(
                f"{MIDDLEWARE_PATH} is not the first entry of MIDDLEWARE.",
                hint="Put it first, so a held request has run no other middleware yet.",
                id="gatekeeper.W002",
            )
        )
    if getattr(settings, "TEMPLATES", None):
        try:
            get_template(TEMPLATE_NAME)
        except (TemplateDoesNotExist, TemplateSyntaxError) as exc:
            messages.append(
                CheckWarning(
                    f"{TEMPLATE_NAME} cannot be loaded ({exc.__class__.__name__}); the 503 "
                    "page will be gatekeeper's built-in one.",
                    hint="Set APP_DIRS=True in TEMPLATES, or fix the project's override.",
                    id="gatekeeper.W003",
                )
            )
    return messages
