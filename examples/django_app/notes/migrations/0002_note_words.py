"""The release being deployed: index ``Note.words`` and backfill it for every old note.

The notes seeded by 0001 have ``words = 0`` (not counted yet); the running code already
writes the right count on every new note and works with the table before and after this
migration. What it cannot do is write *while* this migration runs: Django runs the whole
migration in one transaction, and its first statement (``CREATE INDEX``) takes the
table's write lock until the commit, ~5 s later. On SQLite that is the database's write
lock: a concurrent ``INSERT`` waits for it up to the busy timeout (1 s, see
example_project/database.py) and then fails with "database is locked", a 500. On
PostgreSQL ``CREATE INDEX`` takes a SHARE lock, which blocks every write to the table
until the commit. Hence the gate: writes wait in front of the app instead.

The backfill is written the way many real data migrations are: read the rows in chunks,
compute the new value in Python, save it with ``bulk_update``. That costs about 0.2 ms
a row, mostly in building the ``CASE WHEN`` updates, so on SQLite with the default
20,000 notes it takes about 5 seconds: long enough to watch the gate hold requests and
let them go. Undo it with ``python manage.py migrate notes 0001``, which drops the index
and sets every ``words`` back to 0, so that the next deploy has the whole backfill to do.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

CHUNK = 2000


def backfill(apps: Any, schema_editor: Any) -> None:
    note_model = apps.get_model("notes", "Note")
    notes = note_model.objects.using(schema_editor.connection.alias)
    last = 0
    while True:
        chunk = list(notes.filter(pk__gt=last).order_by("pk").only("pk", "text")[:CHUNK])
        if not chunk:
            return
        for note in chunk:
            # The same rule as notes.models.count_words; a migration keeps its own copy
            # so that later changes to the app cannot change what it did.
            note.words = len(note.text.split())
        notes.bulk_update(chunk, ["words"], batch_size=500)
        last = chunk[-1].pk


def forget(apps: Any, schema_editor: Any) -> None:
    """The reverse: every note not counted yet again, as before the deploy."""
    note_model = apps.get_model("notes", "Note")
    note_model.objects.using(schema_editor.connection.alias).update(words=0)


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial")]  # noqa: RUF012 - Django's migration format

    operations = [  # noqa: RUF012
        # First: the transaction's first statement is a write, so it holds the write lock
        # from the start (a read first would let a concurrent write in between, and on
        # SQLite in WAL mode the migration's first UPDATE would then fail at once).
        migrations.AddIndex(
            model_name="note",
            index=models.Index(fields=["words"], name="notes_note_words_idx"),
        ),
        migrations.RunPython(backfill, forget),
    ]
