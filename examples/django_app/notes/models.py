"""One model: a note with its text, creation time and word count.

``words`` is what the release being deployed adds (migration 0002): the new code writes
it on every insert, so an insert that ran before the migration finished would fail.
That is the request the gate holds.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Note(models.Model):
    text = models.TextField()
    created = models.DateTimeField(default=timezone.now)
    words = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.text[:40]


def count_words(text: str) -> int:
    """The value of ``Note.words``; also what migration 0002 backfills."""
    return len(text.split())
