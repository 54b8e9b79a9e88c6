"""App config of ``notes``: SQLite in WAL mode, so reads go on during a migration.

In WAL mode a writer does not block readers: under the ``readonly`` gate mode, GET
requests keep reading the old rows while ``migrate`` rewrites the table. PostgreSQL
needs nothing of the kind.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _sqlite_wal(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=WAL")


class NotesConfig(AppConfig):
    name = "notes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        connection_created.connect(_sqlite_wal, dispatch_uid="notes-sqlite-wal")
