"""Alembic environment: the service's metadata, batch mode for SQLite.

`grader migrate` passes an open connection in `config.attributes`; the `alembic`
command line (for writing new revisions) uses `sqlalchemy.url` or the service's
settings (DATABASE_URL).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from grader.config import Settings
from grader.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from pathlib import Path

    from flask import Flask

    # The same default as the service: SQLite in the grader package's instance folder.
    return Settings().database_url_for(Path(Flask("grader").instance_path))


def _configure(connection: Connection | None = None) -> None:
    context.configure(
        connection=connection,
        url=None if connection is not None else _url(),
        target_metadata=target_metadata,
        # SQLite alters tables by copying them; batch mode does that, and is a plain
        # ALTER on PostgreSQL, so one migration serves both.
        render_as_batch=True,
        compare_type=True,
        literal_binds=connection is None,
    )


def run_offline() -> None:
    _configure()
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=NullPool)
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
