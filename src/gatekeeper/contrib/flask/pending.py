"""Whether a Flask-Migrate database is behind its migration scripts' heads.

``flask gatekeeper pending`` exits 0 when the database is at every head revision and 1
when it is not (a revision is pending, or the database was never migrated). It is the
default ``--if-pending`` check of ``flask gatekeeper run-migration``: with nothing
pending the runner runs ``flask db upgrade`` without holding any traffic.

Not ``flask db check``: that is Alembic's ``check`` command, which autogenerates a
revision from the models and fails when the models differ from the schema. It does fail
while revisions are pending, but it also fails, with nothing pending, whenever a model
change has no revision yet, and it needs the whole model metadata loaded. The question
before a deploy is narrower: "is the database behind the scripts?". That is what Alembic's
own ``alembic current --check-heads`` (Alembic >= 1.17.1) answers; Flask-Migrate's
``flask db current`` has no such flag, hence this command.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.runtime.migration import MigrationContext
    from flask import Flask

__all__ = ["EXTRA_HINT", "Revisions", "database_revisions"]

EXTRA_HINT = "pip install 'gatekeeper-deploy[flask-migrate]'"
"""How to get what the pending check needs (Alembic >= 1.17.1, Flask-Migrate)."""


@dataclass(frozen=True)
class Revisions:
    """The database's current revisions and the scripts' heads."""

    current: frozenset[str]
    heads: frozenset[str]

    @property
    def pending(self) -> bool:
        return self.current != self.heads

    def describe(self) -> str:
        current = ", ".join(sorted(self.current)) or "(none)"
        heads = ", ".join(sorted(self.heads)) or "(none)"
        verdict = "pending migrations" if self.pending else "up to date"
        return f"{verdict}: database at {current}; heads {heads}"


def database_revisions(app: Flask, directory: str | None = None) -> Revisions:
    """Read the current revisions through the app's Flask-Migrate ``env.py``.

    Runs inside an app context (Flask-Migrate's ``env.py`` needs ``current_app``) and
    never writes: the environment runs with ``dont_mutate``. Raises :class:`RuntimeError`
    with a one-line message when Alembic or Flask-Migrate is missing (imported here, not
    at module level: an app with the ``flask`` extra alone has neither).
    """
    try:
        from alembic.runtime.environment import EnvironmentContext
        from alembic.script import ScriptDirectory
    except ImportError:
        raise RuntimeError(f"the pending check needs Alembic: {EXTRA_HINT}") from None
    migrate: Any = app.extensions.get("migrate")
    if migrate is None:
        if importlib.util.find_spec("flask_migrate") is None:
            raise RuntimeError(f"the pending check needs Flask-Migrate: {EXTRA_HINT}")
        raise RuntimeError("Flask-Migrate is not initialised on this app (Migrate(app, db))")
    config = migrate.migrate.get_config(directory)
    script = ScriptDirectory.from_config(config)
    seen: dict[str, frozenset[str]] = {}

    def look(_revision: object, context: MigrationContext) -> list[Any]:
        seen["current"] = frozenset(context.get_current_heads())
        return []  # no migration steps: only look

    with EnvironmentContext(config, script, fn=look, dont_mutate=True):
        script.run_env()
    if "current" not in seen:
        # An env.py in offline (--sql) mode never connects, so it cannot tell.
        raise RuntimeError("the migration environment did not connect to the database")
    return Revisions(current=seen["current"], heads=frozenset(script.get_heads()))
