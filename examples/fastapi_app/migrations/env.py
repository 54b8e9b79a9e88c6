"""Alembic environment of the FastAPI example: the app's engine and metadata.

``alembic upgrade head`` (and ``alembic current --check-heads``, the pending check) run
against the database the app uses: ``DATABASE_URL``, else SQLite in this directory.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from models import Base, make_engine

config = context.config
if config.config_file_name is not None:
    # Keep existing loggers: this may run inside a process that has its own (tests).
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the SQL instead of running it."""
    context.configure(url=make_engine().url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with make_engine().connect() as connection:
        # render_as_batch: on SQLite, ALTER COLUMN means rebuilding the table.
        context.configure(
            connection=connection, target_metadata=Base.metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
