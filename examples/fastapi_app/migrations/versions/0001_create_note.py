"""Create the note table, word count included, and seed it with sample notes.

Revision ID: 0001
Revises:
Create Date: 2024-06-01

``words`` defaults to 0 in the schema: not counted yet. The seeded notes keep that 0, as
if written before the code counted words, which gives the next revision's backfill real
work: ``NOTES_SEED_ROWS`` notes (default 400,000; the tests use a few thousand).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
]  # fmt: skip
BATCH = 10_000


def sample_notes(count: int) -> Iterator[list[dict[str, object]]]:
    """Deterministic notes, in batches (a fixed seed: every database gets the same)."""
    rng = random.Random(2024)  # noqa: S311 - sample text, not a secret
    start = datetime(2024, 1, 1)
    batch: list[dict[str, object]] = []
    for number in range(count):
        text = f"note {number}: " + " ".join(rng.choices(WORDS, k=rng.randint(2, 12)))
        batch.append({"text": text, "created": start + timedelta(seconds=number)})
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def upgrade() -> None:
    note = op.create_table(
        "note",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("words", sa.Integer(), nullable=False, server_default="0"),
    )
    for batch in sample_notes(int(os.environ.get("NOTES_SEED_ROWS", "400000"))):
        op.bulk_insert(note, batch)


def downgrade() -> None:
    op.drop_table("note")
