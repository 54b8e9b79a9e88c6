"""The FastAPI example's database: engine, session factory and the ``Note`` model.

Shared by the app and by Alembic's ``migrations/env.py``. ``DATABASE_URL`` selects the
database (for example ``postgresql+psycopg://user:pass@host/notes``); the default is
SQLite in the current directory.

The code works with the table before and after the pending revision 0002: ``words`` is
there from 0001 on, and every new note gets its count; 0002 counts the old notes. The
gate is for the seconds 0002 holds SQLite's write lock, during which a write would fail
("database is locked", after ``SQLITE_BUSY_TIMEOUT``).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

SQLITE_BUSY_TIMEOUT = 1.0
"""Seconds a SQLite write waits for another connection's write transaction before it
fails with "database is locked" (a 500). Short on purpose: a request should fail fast
rather than tie up its worker."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def count_words(text: str) -> int:
    """The value of ``Note.words``, written on every new note; revision 0002 backfills it."""
    return len(text.split())


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(sa.String(200))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    # There since revision 0001, 0 for the notes not counted yet; revision 0002 counts
    # them and adds the index.
    words: Mapped[int] = mapped_column(index=True, server_default="0")


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "sqlite:///notes.db")
    # Heroku-style URLs say postgres://, which SQLAlchemy no longer accepts.
    return "postgresql://" + url[len("postgres://") :] if url.startswith("postgres://") else url


def sqlite_wal(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL mode: reads never wait for a writer, not even for a migration."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def make_engine() -> sa.Engine:
    url = database_url()
    if not url.startswith("sqlite"):
        return sa.create_engine(url)
    # def endpoints run in a thread pool: a pooled SQLite connection crosses threads.
    connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT}
    engine = sa.create_engine(url, connect_args=connect_args)
    sa.event.listen(engine, "connect", sqlite_wal)
    return engine


SessionLocal = sessionmaker(bind=make_engine(), expire_on_commit=False)
