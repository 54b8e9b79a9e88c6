"""Gatekeeper's Django settings, read lazily through one typed shim.

Every gate option has one name everywhere: the keyword upper-cased with a
``GATEKEEPER_`` prefix. In a Django project each is read from ``django.conf.settings``
first, then from the environment variable of the same name, then the default::

    GATEKEEPER_REDIS_URL = "redis://redis.internal:6379/0"   # settings.py
    GATEKEEPER_HEALTH_PATHS = ["/healthz", "/ready"]         # lists may be lists

A setting set to ``None`` counts as not set, so ``os.environ.get(...)`` in settings.py
falls through to the default as expected. Nothing is ever written into
``django.conf.settings``, and nothing is read at import time: each access looks again,
so ``override_settings`` in tests works, as with django-cors-headers' ``conf``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from django.conf import settings

from gatekeeper.options import (
    ENV_PREFIX,
    OPTION_NAMES,
    GateOptions,
    OptionError,
    build_options,
    setting_name,
)

__all__ = ["GatekeeperSettings", "conf"]


class GatekeeperSettings:
    """Shadows ``django.conf.settings`` for the ``GATEKEEPER_*`` names."""

    def lookup(self, name: str) -> object | None:
        """The raw value of ``name``: the Django setting, else the environment."""
        value: object = getattr(settings, name, None)
        if value is not None:
            return value
        return os.environ.get(name)

    def source(self, option: str) -> str:
        """Where ``option``'s value comes from, for messages: never the value itself."""
        name = setting_name(option)
        if getattr(settings, name, None) is not None:
            return f"settings.{name}"
        if os.environ.get(name) is not None:
            return "the environment"
        return "the default"

    @property
    def options(self) -> GateOptions:
        """All options, validated together. Raises :class:`OptionError`."""
        return build_options({}, lookup=self.lookup)

    def option(self, option: str) -> object:
        """One option validated alone (the others at their defaults).

        Lets the management command reach Redis even when an unrelated setting is bad,
        and lets the checks report every bad setting, not only the first.
        """
        return getattr(build_options({}, lookup=self._only(option)), option)

    @property
    def redis_url(self) -> str:
        return str(self.option("redis_url"))

    @property
    def prefix(self) -> str:
        return str(self.option("prefix"))

    def problems(self) -> list[OptionError]:
        """Every bad setting, one error per option, in the options table's order."""
        errors: list[OptionError] = []
        for option in OPTION_NAMES:
            try:
                self.option(option)
            except OptionError as exc:
                errors.append(exc)
        if not errors:
            # Each value is fine alone; combinations (e.g. an API prefix that is also a
            # health path) are only checked when all are built together.
            try:
                build_options({}, lookup=self.lookup)
            except OptionError as exc:
                errors.append(exc)
        return errors

    def unknown_settings(self) -> list[str]:
        """``GATEKEEPER_*`` Django settings that name no option: most likely typos."""
        known = {setting_name(option) for option in OPTION_NAMES}
        return sorted(
            name for name in dir(settings) if name.startswith(ENV_PREFIX) and name not in known
        )

    def _only(self, option: str) -> Callable[[str], object | None]:
        wanted = setting_name(option)

        def lookup(name: str) -> object | None:
            return self.lookup(name) if name == wanted else None

        return lookup


conf = GatekeeperSettings()
"""The shim every part of :mod:`gatekeeper.contrib.django` reads settings through."""
