"""The notes table, ``words`` included, seeded with ``NOTES_SEED_ROWS`` notes (default 20,000).

The seeded notes get ``words = 0``: not counted yet, as if they were written before the
code counted words. Counting them is migration 0002's job, and these rows are what makes
it take seconds, as a real backfill does. Tests set a small ``NOTES_SEED_ROWS`` to stay
fast. Inserted with ``executemany`` in chunks, so this one stays quick (the ORM would
spend its time building model instances).
"""

from __future__ import annotations

import os
from typing import Any

import django.utils.timezone
from django.db import migrations, models

CHUNK = 10_000
WORDS = [
    "deploy",
    "migrate",
    "hold",
    "release",
    "queue",
    "redis",
    "gate",
    "worker",
    "request",
    "page",
]


def seed(apps: Any, schema_editor: Any) -> None:
    rows = int(os.environ.get("NOTES_SEED_ROWS", "20000"))
    connection = schema_editor.connection
    created = connection.ops.adapt_datetimefield_value(django.utils.timezone.now())
    table = connection.ops.quote_name("notes_note")
    sql = f"INSERT INTO {table} (text, created, words) VALUES (%s, %s, 0)"  # noqa: S608
    with connection.cursor() as cursor:
        for start in range(0, rows, CHUNK):
            batch = []
            for number in range(start, min(rows, start + CHUNK)):
                length = 3 + number % 17
                text = " ".join(WORDS[(number + k) % len(WORDS)] for k in range(length))
                batch.append((f"note {number}: {text}", created))
            cursor.executemany(sql, batch)


class Migration(migrations.Migration):
    initial = True

    dependencies = []  # noqa: RUF012 - Django's migration format

    operations = [  # noqa: RUF012
        migrations.CreateModel(
            name="Note",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("text", models.TextField()),
                ("created", models.DateTimeField(default=django.utils.timezone.now)),
                ("words", models.PositiveIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
