"""The migrations build exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from grader import db
from grader.config import Settings
from grader.models import Attempt, Base, utcnow
from grader.services import accounts, exercises, variants

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"


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


def test_0002_refuses_attempts_that_do_not_match_their_variant(fresh_database):
    from grader.models import Role

    db.upgrade(fresh_database)
    engine = db.make_engine(fresh_database, Settings(database_url=fresh_database, testing=True))
    session = Session(engine)
    exercise = exercises.parse_exercise_text((EXERCISES / "branching.yaml").read_text(), None)
    version = exercises.store_exercise(session, exercise, owner=None).version
    ann = accounts.create_user(session, "ann", Role.STUDENT)
    bob = accounts.create_user(session, "bob", Role.STUDENT)
    variant = variants.current_variant(session, ann, version)
    session.execute(insert(Attempt).values(
        user_id=ann.id, exercise_id="branching", exercise_version_id=version.id,
        variant_id=variant.id, assignment_id=None, number=1, answers={}, result={},
        score=0.0, created_at=utcnow()))
    session.commit()
    ann_id, bob_id = ann.id, bob.id
    session.close()
    engine.dispose()
    db.downgrade(fresh_database, "0001")
    plain = create_engine(fresh_database, poolclass=NullPool)
    with plain.begin() as connection:  # bob's attempt at ann's variant: 0001 allowed it
        connection.execute(text("UPDATE attempts SET user_id = :bob"), {"bob": bob_id})
    plain.dispose()
    with pytest.raises(RuntimeError, match=r"1 attempt.* do not match their variant"):
        db.upgrade(fresh_database)
    plain = create_engine(fresh_database, poolclass=NullPool)
    with plain.begin() as connection:
        connection.execute(text("UPDATE attempts SET user_id = :ann"), {"ann": ann_id})
    plain.dispose()
    db.upgrade(fresh_database)
    assert schema_differences(fresh_database) == []


def test_0003_keeps_what_existing_assignments_show_and_checks_the_new_values(fresh_database):
    db.upgrade(fresh_database, "0002")
    plain = create_engine(fresh_database, poolclass=NullPool)
    now = {"now": utcnow()}
    with plain.begin() as connection:
        for statement in (
            "INSERT INTO users (id, username, role, created_at) "
            "VALUES (1, 'ines', 'instructor', :now)",
            "INSERT INTO courses (id, title, created_by, created_at) VALUES (1, 'C', 1, :now)",
            "INSERT INTO exercises (id, latest_version, created_at) VALUES ('e', 1, :now)",
            "INSERT INTO exercise_versions (id, exercise_id, number, yaml_text, content_hash, "
            "title, practice, created_at) VALUES (1, 'e', 1, '', 'h', 'E', true, :now)",
            "INSERT INTO assignments (id, course_id, exercise_version_id, "
            "new_variant_each_attempt, created_at) VALUES (1, 1, 1, false, :now)",
        ):
            connection.execute(text(statement), now)
    db.upgrade(fresh_database)
    with plain.begin() as connection:
        assert connection.execute(text(
            "SELECT feedback, solution_after_due FROM assignments")).one() == ("full", False)
        assert connection.execute(text("SELECT language FROM users")).scalar_one() is None
        connection.execute(text("UPDATE users SET language = 'pt_BR'"))
    for refused in ("UPDATE assignments SET feedback = 'hints'",
                    "UPDATE users SET language = 'pt-BR'"):
        with pytest.raises(IntegrityError), plain.begin() as connection:
            connection.execute(text(refused))
    plain.dispose()
    db.downgrade(fresh_database, "0002")
    db.upgrade(fresh_database)
    assert schema_differences(fresh_database) == []


def test_0005_keeps_each_tokens_label_as_its_name(fresh_database):
    db.upgrade(fresh_database, "0004")
    plain = create_engine(fresh_database, poolclass=NullPool)
    now = {"now": utcnow()}
    with plain.begin() as connection:
        connection.execute(text("INSERT INTO users (id, username, role, created_at) "
                                "VALUES (1, 'ada', 'student', :now)"), now)
        connection.execute(text(
            "INSERT INTO api_tokens (id, user_id, public_id, secret_hash, label, created_at) "
            "VALUES (1, 1, 'p', 'h', 'laptop', :now)"), now)
    db.upgrade(fresh_database)
    with plain.begin() as connection:
        assert connection.execute(text(
            "SELECT name, expires_at, last_used_at FROM api_tokens")).one() == (
            "laptop", None, None)
    db.downgrade(fresh_database, "0004")
    with plain.begin() as connection:
        assert connection.execute(text("SELECT label FROM api_tokens")).scalar_one() == "laptop"
    plain.dispose()
    db.upgrade(fresh_database)
    assert schema_differences(fresh_database) == []
