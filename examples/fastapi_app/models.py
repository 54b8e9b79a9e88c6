"""The FastAPI example's database: engine, session factory and the ``Note`` model.

Shared by the app and by Alembic's ``migrations/env.py``. ``DATABASE_URL`` selects the
database (for example ``postgresql+psycopg://user:pass@host/notes``); the default is
SQLite in the current directory.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def count_words(text: str) -> int:
    """The value of ``Note.words``; the migration that added the column backfills it too."""
    return len(text.split())


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(sa.String(200))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    # Added by revision 0002, which backfills every existing note.
    words: Mapped[int] = mapped_column(index=True)


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "sqlite:///notes.db")
    # Heroku-style URLs say postgres://, which SQLAlchemy no longer accepts.
    return "postgresql://" + url[len("postgres://") :] if url.startswith("postgres://") else url


def make_engine() -> sa.Engine:
    url = database_url()
    # def endpoints run in a thread pool: a pooled SQLite connection crosses threads.
    connect_args = {"check_same_thread": False} if url.startswith("sqlite") else {}
    return sa.create_engine(url, connect_args=connect_args)


SessionLocal = sessionmaker(bind=make_engine(), expire_on_commit=False)
