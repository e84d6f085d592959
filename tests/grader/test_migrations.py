"""The migrations build exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from grader import db
from grader.models import Base


def schema_differences(url: str) -> list[object]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_autogenerate_finds_no_difference_after_upgrade(database_url):
    # The session's database was built by `db.upgrade()`, the migrations alone.
    assert schema_differences(database_url) == []


def test_database_is_at_head(database_url):
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(fresh_database):
    db.upgrade(fresh_database)
    db.downgrade(fresh_database, "base")
    engine = create_engine(fresh_database, poolclass=NullPool)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    db.upgrade(fresh_database)
    assert schema_differences(fresh_database) == []


def test_upgrade_is_idempotent(database_url):
    db.upgrade(database_url)  # already at head: nothing to do, nothing breaks
    assert schema_differences(database_url) == []


def test_constraint_names_follow_the_naming_convention(database_url):
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        inspector = inspect(engine)
        uniques = {u["name"] for u in inspector.get_unique_constraints("attempts")}
        foreign = {f["name"] for f in inspector.get_foreign_keys("attempts")}
    finally:
        engine.dispose()
    assert "uq_attempts_user_id_idempotency_key" in uniques
    assert "fk_attempts_variant_id_variants" in foreign
