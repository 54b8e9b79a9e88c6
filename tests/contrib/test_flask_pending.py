"""``flask gatekeeper pending``: exit 0 at head, 1 when a revision is pending, and why it
is not ``flask db check``. Runs the Flask example's real migrations, with a small seed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gatekeeper.contrib.flask import Gatekeeper, state_for
from gatekeeper.contrib.flask.pending import database_revisions

MIGRATIONS = Path(__file__).resolve().parents[2] / "examples" / "flask_app" / "migrations"


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Note(db.Model):  # type: ignore[name-defined,misc]
    """The example's model plus a column no revision adds yet: a model change in progress."""

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(sa.String(200))
    created: Mapped[datetime]
    words: Mapped[int] = mapped_column(index=True)
    title: Mapped[str | None] = mapped_column(sa.String(80))


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    """Alembic's env.py calls ``fileConfig``: put the root logger back for later tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setenv("NOTES_SEED_ROWS", "50")
    app = Flask("pending")
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'notes.db'}"
    db.init_app(app)
    flask_migrate.Migrate(app, db, directory=str(MIGRATIONS))
    Gatekeeper(app)
    yield app
    state_for(app).gate.watcher.close()


def in_context(app: Flask, action: Callable[[], Any]) -> Any:
    with app.app_context():
        return action()


def pending(app: Flask) -> Any:
    return app.test_cli_runner().invoke(args=["gatekeeper", "pending"])


def test_fresh_database_is_pending(app: Flask) -> None:
    result = pending(app)
    assert result.exit_code == 1
    assert "pending migrations: database at (none); heads 0002" in result.output


def test_database_one_revision_behind_is_pending(app: Flask) -> None:
    in_context(app, lambda: flask_migrate.upgrade(revision="0001"))
    result = pending(app)
    assert result.exit_code == 1
    assert "database at 0001; heads 0002" in result.output


def test_database_at_head_is_up_to_date(app: Flask) -> None:
    in_context(app, flask_migrate.upgrade)
    revisions = in_context(app, lambda: database_revisions(app))
    assert not revisions.pending
    assert revisions.current == revisions.heads == frozenset({"0002"})
    result = pending(app)
    assert result.exit_code == 0
    assert "up to date: database at 0002; heads 0002" in result.output


def test_db_check_fails_at_head_when_models_changed_but_pending_does_not(app: Flask) -> None:
    # Why the default check is not `flask db check`: with the database at head, a model
    # change without its revision makes `check` fail, which would read as "pending".
    in_context(app, flask_migrate.upgrade)
    check = app.test_cli_runner().invoke(args=["db", "check"])
    assert check.exit_code == 1
    assert pending(app).exit_code == 0


def test_db_check_also_fails_while_a_revision_is_pending(app: Flask) -> None:
    in_context(app, lambda: flask_migrate.upgrade(revision="0001"))
    assert app.test_cli_runner().invoke(args=["db", "check"]).exit_code == 1
    assert pending(app).exit_code == 1


def test_pending_without_flask_migrate_exits_2() -> None:
    app = Flask("bare")
    Gatekeeper(app)
    try:
        result = pending(app)
    finally:
        state_for(app).gate.watcher.close()
    assert result.exit_code == 2
    assert "Flask-Migrate is not initialised" in result.output
