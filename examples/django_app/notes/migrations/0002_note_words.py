"""The release being deployed: add ``Note.words`` and backfill it for every note.

Written the way many real data migrations are: read the rows in chunks, compute the new
value in Python, save it with ``bulk_update``. That costs about 0.2 ms a row, mostly in
building the ``CASE WHEN`` updates, so on SQLite with the default 20,000 notes it takes
about 5 seconds: long enough to watch the gate hold requests and let them go.
Undo it with ``python manage.py migrate notes 0001``.
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


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial")]  # noqa: RUF012 - Django's migration format

    operations = [  # noqa: RUF012
        migrations.AddField(
            model_name="note",
            name="words",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
