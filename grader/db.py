"""The service's database engines, the JSON it stores, and its migrations: nothing here
knows of Flask (the session of each request is `grader.sessions`).

A pooled connection that died while idle (a database restart, a failover) is replaced
before a request uses it: by SQLAlchemy's pre-ping on the transactional engine, and on
the submit path's engine, which saves that round trip, by running a use case's first
read once more on a fresh connection (`first_row`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic_core
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Row, Select, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from grader.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000


class JsonText(str):
    """A value already serialized as compact JSON: a JSON column stores the text as is
    (the submit path serializes its result once, for the database and the response)."""

    __slots__ = ()


def _compact_json(value: Any) -> str:
    """JSON columns (answers, results) as compact JSON, written by pydantic's
    serializer: the same text as json.dumps without padding, several times faster."""
    if type(value) is JsonText:
        return value
    return pydantic_core.to_json(value).decode()


def make_engine(url: str, settings: Settings, **options: Any) -> Engine:
    """An engine with the per-database settings the service relies on (`options`: more
    of create_engine's keyword arguments)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            json_serializer=_compact_json,
            pool_pre_ping=True,
            **options,
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = settings.db_connect_timeout
    arguments: dict[str, Any] = {
        # A connection that died while idle is replaced at checkout, not failed on.
        "pool_pre_ping": True,
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_timeout": settings.db_connect_timeout,
        "connect_args": connect_args,
        "json_serializer": _compact_json,
    }
    return create_engine(url, **{**arguments, **options})


def _configure_sqlite_connection(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite ignores foreign keys unless asked, per connection.
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets readers run while one writer writes (gunicorn runs several processes).
    if not _is_memory_database(dbapi_connection):
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _is_memory_database(dbapi_connection: Any) -> bool:
    rows = dbapi_connection.execute("PRAGMA database_list").fetchall()
    return any(row[1] == "main" and not row[2] for row in rows)


def autocommit_engine(engine: Engine, url: str, settings: Settings) -> Engine:
    """The submit path's engine: each statement its own transaction, with no BEGIN and
    COMMIT round trips. A pool of its own, whose connections are put in autocommit
    once, when opened; switching a shared pool's connection on every checkout, and
    back on every return, is Python work on every request; and with no transaction
    ever open, nothing to roll back when a connection returns. SQLite (one file, or an
    in-memory database a second engine would not see) shares the pool and switches."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    # A thread holds one connection at a time: a worker never needs more than its
    # threads here, and keeps no more.
    return make_engine(url, settings, isolation_level="AUTOCOMMIT", pool_reset_on_return=None,
                       pool_size=settings.threads, max_overflow=0, pool_pre_ping=False)


def first_row(session: Session, statement: Select[*tuple[Any, ...]],
              parameters: Mapping[str, Any]) -> Row[*tuple[Any, ...]] | None:
    """The first row of a SELECT, on the session's connection (SQLAlchemy Core: no ORM
    work for rows nobody loads). When it is the session's first statement and fails
    because its pooled connection had died, it runs once more on a fresh one: a read
    changes nothing, and nothing else ran on the session yet."""
    first = not session.in_transaction()
    try:
        return session.connection().execute(statement, parameters).first()
    except DBAPIError as exc:
        if not (first and exc.connection_invalidated):
            raise
        session.rollback()
        return session.connection().execute(statement, parameters).first()


UNIQUE_VIOLATION = "23505"  # SQLSTATE
SQLITE_UNIQUE_VIOLATIONS = ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")


def is_unique_violation(exc: IntegrityError) -> bool:
    """True when the statement broke a unique constraint (a row that another request
    inserted first), rather than a foreign key, NOT NULL or CHECK: a bug, not a race."""
    driver_error = exc.orig
    if getattr(driver_error, "sqlstate", None) == UNIQUE_VIOLATION:  # psycopg
        return True
    return getattr(driver_error, "sqlite_errorname", None) in SQLITE_UNIQUE_VIOLATIONS


def is_connection_error(exc: BaseException) -> bool:
    """True when a database error means the database could not be reached, or the
    connection broke, rather than that a statement was wrong."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError)


# ---------------------------------------------------------------- migrations

# Alembic's scripts live beside the package in the source tree; configured here in
# code, so `grader migrate` works from any working directory without alembic.ini.
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Any constant: concurrent `grader migrate` runs on PostgreSQL queue on this lock.
MIGRATION_LOCK_ID = 0x6770_6164  # "gpad"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation would eat a % in a password.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@functools.cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's migration revision: "" when none is applied, None when the
    database cannot be reached."""
    for _ in range(2):  # twice: the first may find a pooled connection that died idle
        try:
            with engine.connect() as connection:
                return MigrationContext.configure(connection).get_current_revision() or ""
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                return None
    return None


def upgrade(url: str, revision: str = "head") -> None:
    """Apply pending migrations in one transaction (one migrator at a time on
    PostgreSQL, where DDL is transactional)."""
    _run_alembic(url, command.upgrade, revision)


def downgrade(url: str, revision: str) -> None:
    _run_alembic(url, command.downgrade, revision)


def _run_alembic(url: str, alembic_command: Any, revision: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                                   {"id": MIGRATION_LOCK_ID})
            config = alembic_config(url)
            config.attributes["connection"] = connection
            alembic_command(config, revision)
    finally:
        engine.dispose()
