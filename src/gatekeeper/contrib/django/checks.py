"""System checks: bad ``GATEKEEPER_*`` settings reported by ``manage.py check``.

Each bad option becomes one ``django.core.checks.Error`` whose message is the same
one-line :class:`~gatekeeper.options.OptionError` text the middleware raises as
``ImproperlyConfigured``, so a typo shows up at deploy time, not at the first request.
Ids are stable: one per option (from the options table,
:class:`~gatekeeper.options.GateOptions`, where each field's rule carries its id and the
text of what a good value is; never renumbered), plus three warnings:

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
from gatekeeper.options import OPTIONS, setting_name

__all__ = ["CHECKS", "CHECK_IDS", "MIDDLEWARE_PATH", "check_settings"]

MIDDLEWARE_PATH = "gatekeeper.contrib.django.GatekeeperMiddleware"

CHECKS: dict[str, tuple[str, str]] = {row.name: (row.check_id, row.expected) for row in OPTIONS}
"""option -> (check id, what a good value looks like): the options table's, one id each."""

OTHER_ERROR = "gatekeeper.E099"
"""For an :class:`OptionError` naming no option in the table: never expected, since every
error names the option it is about, but a check must not fail on its own fallback."""
UNKNOWN_SETTING = "gatekeeper.W001"
MIDDLEWARE_NOT_FIRST = "gatekeeper.W002"
TEMPLATE_NOT_LOADED = "gatekeeper.W003"

CHECK_IDS: tuple[str, ...] = (
    *(check_id for check_id, _ in CHECKS.values()),
    OTHER_ERROR,
    UNKNOWN_SETTING,
    MIDDLEWARE_NOT_FIRST,
    TEMPLATE_NOT_LOADED,
)
"""Every id these checks can report (a test keeps them unique)."""

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
                id=UNKNOWN_SETTING,
            )
        )
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    if MIDDLEWARE_PATH in middleware and middleware[0] != MIDDLEWARE_PATH:
        messages.append(
            CheckWarning(
                f"{MIDDLEWARE_PATH} is not the first entry of MIDDLEWARE.",
                hint="Put it first, so a held request has run no other middleware yet.",
                id=MIDDLEWARE_NOT_FIRST,
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
                    id=TEMPLATE_NOT_LOADED,
                )
            )
    return messages
