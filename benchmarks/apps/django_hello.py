"""One Django view under Django's WSGI handler, in the variant named by ``BENCH_VARIANT``.

This module is its own settings module and URLconf (``settings.configure`` inline):
no database, no installed apps, no middleware, so the gate's share is as large as it
gets in a Django app. The gate wraps the WSGI handler, as the README shows. Served by
gunicorn: ``gunicorn benchmarks.apps.django_hello:app``.
"""

from __future__ import annotations

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import re_path

from benchmarks.apps.variants import hello_body, wrap_wsgi

settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-only-not-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    DATABASES={},
    USE_TZ=True,
    LOGGING_CONFIG=None,
)
django.setup()


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(hello_body(), content_type="text/plain")


urlpatterns = [re_path(r"", hello)]

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after settings

app = wrap_wsgi(get_wsgi_application())
