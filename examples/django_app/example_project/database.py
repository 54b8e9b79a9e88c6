"""``DATABASE_URL`` to Django's ``DATABASES["default"]``: SQLite or PostgreSQL.

::

    sqlite:///db.sqlite3              relative to the project directory
    sqlite:////var/lib/notes.sqlite3  absolute path (four slashes)
    postgres://user:pass@host:5432/notes?sslmode=require

PostgreSQL needs a driver: ``pip install "psycopg[binary]"``. Written out here rather
than adding a dependency for twenty lines; dj-database-url does the same and more.

SQLite gets an explicit busy timeout of one second (``SQLITE_BUSY_TIMEOUT``): a write
that cannot have the database's write lock within a second fails with "database is
locked". That is what happens, without the gate, to the writes that arrive while
migration 0002 holds the lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["SQLITE_BUSY_TIMEOUT", "parse_database_url"]

_POSTGRES = {"postgres", "postgresql", "pgsql"}
SQLITE_BUSY_TIMEOUT = 1.0
"""Seconds a SQLite write waits for another connection's write transaction before it
fails with "database is locked"."""


def parse_database_url(url: str, base_dir: Path) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # "sqlite:///x" has path "/x" (relative), "sqlite:////x" has "//x" (absolute).
        name = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
        if not name:
            raise ValueError("DATABASE_URL: sqlite:/// needs a file name")
        path = name if name == ":memory:" else str(base_dir / name)
        # Short on purpose: a request should fail fast rather than tie up its worker for
        # as long as another transaction writes. Reads never wait (WAL, notes/apps.py).
        options = {"timeout": SQLITE_BUSY_TIMEOUT}
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": options}
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
