"""The ``gatekeeper.contrib.django`` app: registers the system checks on start-up.

Adding it to ``INSTALLED_APPS`` also makes ``manage.py gatekeeper`` available and puts
``gatekeeper/maintenance.html`` on the template path (through ``APP_DIRS``), where a
project's own template of the same name overrides it.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks

__all__ = ["GatekeeperConfig"]


class GatekeeperConfig(AppConfig):
    name = "gatekeeper.contrib.django"
    label = "gatekeeper"
    verbose_name = "gatekeeper"

    def ready(self) -> None:
        # Imported here: checks.py reads settings, which are configured only by now.
        from gatekeeper.contrib.django.checks import check_settings

        checks.register(check_settings, "gatekeeper")
