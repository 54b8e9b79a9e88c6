"""Settings of the gatekeeper Django example: small, and configured from the environment.

The gate's own settings are not written here: every ``GATEKEEPER_*`` option (for example
``GATEKEEPER_REDIS_URL``) falls back to the environment variable of the same name, which
is how the tests and the README start it. A value written here would win over the
environment. The one exception: with ``NOTES_RELEASE_FILE`` set, ``GATEKEEPER_RELEASE``
is read from that file (see example_project/release.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from example_project.database import parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

# A fixed key is fine for an example that stores nothing secret; set it in production.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "gatekeeper-example-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

INSTALLED_APPS = [
    "gatekeeper.contrib.django",  # checks, `manage.py gatekeeper`, the 503 template
    "notes",
]

MIDDLEWARE = [
    "gatekeeper.contrib.django.GatekeeperMiddleware",  # first: a held request ran nothing yet
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]

# The release this process runs, from a file a deploy rewrites (see release.py): what it
# reports to the gate, and what its X-Release header says. Unset: neither.
if os.environ.get("NOTES_RELEASE_FILE"):
    GATEKEEPER_RELEASE = Path(os.environ["NOTES_RELEASE_FILE"]).read_text().strip()
    MIDDLEWARE.insert(1, "example_project.release.release_header")

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # templates/gatekeeper/maintenance.html here overrides the app's default page.
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

DATABASES = {
    "default": parse_database_url(
        os.environ.get("DATABASE_URL", "sqlite:///db.sqlite3"), base_dir=BASE_DIR
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "gatekeeper": {"handlers": ["console"], "level": "INFO"},
        # A 500's traceback in the server's log, DEBUG or not ("database is locked").
        "django.request": {"handlers": ["console"], "level": "ERROR"},
    },
}
