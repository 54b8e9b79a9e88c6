"""One model: a note with its text, creation time and word count.

``words`` has been in the table since migration 0001, where the notes already there got
``0``: not counted yet. The code writes the right count on every new note, and the
pending migration 0002 counts the old ones and indexes the column. The code works with
the table before and after 0002 (an expand/contract deploy); the gate is for the seconds
0002 spends rewriting the table, during which a write would wait for SQLite's lock and
fail.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Note(models.Model):
    text = models.TextField()
    created = models.DateTimeField(default=timezone.now)
    words = models.PositiveIntegerField(default=0)

    class Meta:
        # Added by migration 0002, with the backfill.
        indexes = [models.Index(fields=["words"], name="notes_note_words_idx")]  # noqa: RUF012

    def __str__(self) -> str:
        return self.text[:40]


def count_words(text: str) -> int:
    """The value of ``Note.words``: written on every new note; migration 0002 backfills it."""
    return len(text.split())
