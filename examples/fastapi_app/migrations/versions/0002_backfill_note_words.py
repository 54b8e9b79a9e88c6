"""Backfill note.words (the word count) for every old note, then index it.

Revision ID: 0002
Revises: 0001
Create Date: 2024-06-02

The slow one: every existing row is read and rewritten, in batches, the way a real
data migration computes a value in Python. With the default 400,000 seeded notes it
takes about 5 s on SQLite.

The running code needs nothing from this revision: ``words`` exists since 0001 and every
new note gets its count. But the revision is one transaction (Alembic's, per revision),
opened by its first UPDATE: from then until the commit it holds SQLite's write lock, so
a write from the app waits for it up to the busy timeout (1 s, ``SQLITE_BUSY_TIMEOUT``
in models.py) and fails with "database is locked". On PostgreSQL the rewritten rows stay
locked until the commit and ``CREATE INDEX`` blocks every write to the table while it
builds. Hence the gate: the writes wait in front of the app instead.

The index comes last, inside the same transaction: with SQLite's Python driver a DDL
statement before the first write would commit on its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BATCH = 2_000

note = sa.table(
    "note",
    sa.column("id", sa.Integer),
    sa.column("text", sa.String),
    sa.column("words", sa.Integer),
)


def count_words(text: str) -> int:
    # A copy of the app's count_words: a migration must not import the app's code, which
    # will have moved on by the time someone replays this revision.
    return len(text.split())


def upgrade() -> None:
    connection = op.get_bind()
    update = (
        note.update()
        .where(note.c.id == sa.bindparam("row_id"))
        .values(words=sa.bindparam("row_words"))
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(note.c.id, note.c.text)
            .where(note.c.id > last)
            .order_by(note.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        connection.execute(
            update, [{"row_id": row.id, "row_words": count_words(row.text)} for row in rows]
        )
        last = rows[-1].id
    op.create_index("ix_note_words", "note", ["words"])


def downgrade() -> None:
    # Every note back to "not counted yet", so that the next upgrade has the whole
    # backfill to do again.
    op.drop_index("ix_note_words", table_name="note")
    op.execute(note.update().values(words=0))
