"""ASGI entry point: ``uvicorn example_project.asgi:application`` (from examples/django_app).

The same settings as under WSGI; Django runs the gatekeeper middleware in its async
mode here, so a held request waits on the event loop and blocks no thread.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

application = get_asgi_application()
