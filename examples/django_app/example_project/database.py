"""``DATABASE_URL`` to Django's ``DATABASES["default"]``: SQLite or PostgreSQL.

::

    sqlite:///db.sqlite3              relative to the project directory
    sqlite:////var/lib/notes.sqlite3  absolute path (four slashes)
    postgres://user:pass@host:5432/notes?sslmode=require

PostgreSQL needs a driver: ``pip install "psycopg[binary]"``. Written out here rather
than adding a dependency for twenty lines; dj-database-url does the same and more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["parse_database_url"]

_POSTGRES = {"postgres", "postgresql", "pgsql"}


def parse_database_url(url: str, base_dir: Path) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # "sqlite:///x" has path "/x" (relative), "sqlite:////x" has "//x" (absolute).
        name = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
        if not name:
            raise ValueError("DATABASE_URL: sqlite:/// needs a file name")
        path = name if name == ":memory:" else str(base_dir / name)
        # A timeout long enough for a migration's write transaction: readers wait for
        # it rather than fail with "database is locked".
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": {"timeout": 30}}
    if parts.scheme in _POSTGRES:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(parts.port or ""),
            "OPTIONS": dict(parse_qsl(parts.query)),
        }
    raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r} (sqlite or postgres)")
