"""A small Flask notes app deployed with gatekeeper: Flask-SQLAlchemy, Flask-Migrate.

Configuration comes from the environment: ``DATABASE_URL`` (default: SQLite in the
instance folder) and the gate's ``GATEKEEPER_*`` variables, which the extension reads
itself. Serve it with ``gunicorn 'app:create_app()'``; see README.md.

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
from flask import Flask, render_template_string, request
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gatekeeper.contrib.flask import Gatekeeper


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
gatekeeper = Gatekeeper()


SQLITE_BUSY_TIMEOUT = 1.0
"""Seconds a SQLite write waits for another connection's write transaction before it
fails with "database is locked" (a 500). Short on purpose: a request should fail fast
rather than tie up its worker."""


def sqlite_wal(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL mode: reads never wait for a writer, not even for a migration."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def count_words(text: str) -> int:
    """The value of ``Note.words``, written on every new note; revision 0002 backfills it."""
    return len(text.split())


class Note(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(sa.String(200))
    created: Mapped[datetime] = mapped_column(default=utcnow)
    # There since revision 0001, 0 for the notes not counted yet; revision 0002 counts
    # them and adds the index.
    words: Mapped[int] = mapped_column(index=True, server_default="0")


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Notes (Flask)</title></head>
<body><h1>Notes, served by Flask behind gatekeeper</h1>
<p>{{ count }} notes so far.</p></body></html>
"""


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "sqlite:///notes.db")
    # Heroku-style URLs say postgres://, which SQLAlchemy no longer accepts.
    return "postgresql://" + url[len("postgres://") :] if url.startswith("postgres://") else url


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url()
    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    if sqlite:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    db.init_app(app)
    if sqlite:
        # The migrations use this engine too (migrations/env.py).
        with app.app_context():
            sa.event.listen(db.engine, "connect", sqlite_wal)
    migrate.init_app(app, db)
    # Reads GATEKEEPER_* from app.config, else from the environment.
    gatekeeper.init_app(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        # No database here: the load balancer must not see a migration as an outage.
        return {"status": "ok"}

    @app.get("/")
    def index() -> str:
        return render_template_string(PAGE, count=_count())

    @app.get("/notes")
    def list_notes() -> dict[str, int]:
        return {"count": _count()}

    @app.post("/notes")
    def create_note() -> tuple[dict[str, Any], int]:
        body = request.get_json(silent=True) or {}
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not 1 <= len(text) <= 200:
            return {"error": "text must be a string of 1 to 200 characters"}, 400
        note = Note(text=text, words=count_words(text))
        db.session.add(note)
        db.session.commit()
        return {"id": note.id, "text": note.text, "words": note.words}, 201

    return app


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Note.id))) or 0
