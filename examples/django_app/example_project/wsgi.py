"""WSGI entry point: ``gunicorn example_project.wsgi`` (from examples/django_app).

The gate is not wrapped around this application: it is the first entry of
``MIDDLEWARE`` in settings.py, configured from ``GATEKEEPER_*`` environment variables.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

application = get_wsgi_application()
