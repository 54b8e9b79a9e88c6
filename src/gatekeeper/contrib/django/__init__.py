"""Django integration: middleware, settings, system checks and a management command.

In ``settings.py``::

    INSTALLED_APPS = [..., "gatekeeper.contrib.django"]
    MIDDLEWARE = ["gatekeeper.contrib.django.GatekeeperMiddleware", ...]  # first
    GATEKEEPER_REDIS_URL = "redis://redis.internal:6379/0"

- the middleware (:mod:`~gatekeeper.contrib.django.middleware`) gates requests under
  WSGI and ASGI with the same core as :class:`gatekeeper.WSGIMiddleware`;
- settings are the option names upper-cased with a ``GATEKEEPER_`` prefix, falling back
  to the environment (:mod:`~gatekeeper.contrib.django.conf`);
- the app adds system checks for bad settings (:mod:`~gatekeeper.contrib.django.checks`),
  the ``manage.py gatekeeper`` command, and the overridable template
  ``gatekeeper/maintenance.html`` used for the HTML 503 page.

The middleware works without the app in ``INSTALLED_APPS``; it then sends the core's
built-in page and ``manage.py check`` does not know about its settings.
"""

from __future__ import annotations

try:
    import django  # noqa: F401
except ImportError as exc:  # the core install has no Django
    raise ImportError(
        "gatekeeper.contrib.django needs Django: pip install 'gatekeeper-deploy[django]'"
    ) from exc

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gatekeeper.contrib.django.middleware import GatekeeperMiddleware

__all__ = ["GatekeeperMiddleware"]


def __getattr__(name: str) -> object:
    # Imported on first use: the app registry, the system checks and ``manage.py
    # gatekeeper`` import this package, and none of them serves a request.
    if name == "GatekeeperMiddleware":
        from gatekeeper.contrib.django.middleware import GatekeeperMiddleware

        return GatekeeperMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
