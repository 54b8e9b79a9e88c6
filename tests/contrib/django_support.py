"""Django for the contrib tests: settings configured once per process, gate settings per test.

Importing this module configures Django (no database, the gatekeeper app installed, the
middleware first). Tests then point the gate at their own Redis prefix with
:func:`gate_settings`, which also stops the watchers the middleware started.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import django
from django.conf import settings
from django.test import override_settings

from gatekeeper.contrib.django.conf import conf
from gatekeeper.state import _watchers as watcher_registry
from gatekeeper.state._watchers import watcher_for
from gatekeeper.state.watcher import StateWatcher

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "examples" / "django_app"

if not settings.configured:
    settings.configure(
        SECRET_KEY="gatekeeper-tests",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=["gatekeeper.contrib.django"],
        MIDDLEWARE=["gatekeeper.contrib.django.GatekeeperMiddleware"],
        ROOT_URLCONF="tests.contrib.django_urls",
        TEMPLATES=[
            {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}
        ],
        DATABASES={},
        USE_TZ=True,
    )
    django.setup()


@contextlib.contextmanager
def gate_settings(redis_url: str, prefix: str, **extra: Any) -> Iterator[None]:
    """GATEKEEPER_* settings for one test: its Redis, its prefix, a fast poll."""
    values: dict[str, Any] = {
        "GATEKEEPER_REDIS_URL": redis_url,
        "GATEKEEPER_PREFIX": prefix,
        "GATEKEEPER_POLL_INTERVAL": 0.2,
        "GATEKEEPER_HOLD_TIMEOUT": 10,
        **extra,
    }
    try:
        with override_settings(**values):
            yield
    finally:
        for watcher in list(watcher_registry._watchers.values()):
            if watcher.options.prefix == prefix:
                watcher.close()


def current_watcher() -> StateWatcher:
    """The watcher the middleware shares under the current settings."""
    return watcher_for(conf.options)


def example_database_parser() -> Callable[[str, Path], dict[str, Any]]:
    """The example project's ``parse_database_url`` (the project is not a package)."""
    if str(APP_DIR) not in sys.path:
        sys.path.insert(0, str(APP_DIR))
    module = importlib.import_module("example_project.database")
    return cast(Callable[[str, Path], dict[str, Any]], module.parse_database_url)
