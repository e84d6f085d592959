"""Engine details the service relies on."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from grader import db, service
from grader.config import Settings
from grader.models import Attempt, Role, utcnow


@pytest.fixture
def postgres_engine(is_postgres, database_url):
    if not is_postgres:
        pytest.skip("psycopg's cursors: needs PostgreSQL (TEST_DATABASE_URL)")
    engine = db.make_engine(database_url, Settings(database_url=database_url, testing=True))
    yield engine
    engine.dispose()


def described(connection, sql: str) -> list[tuple[str, int]]:
    cursor = connection.connection.dbapi_connection.cursor()
    cursor.execute(sql)
    return [(column.name, column.type_code) for column in cursor.description]


def test_a_result_shape_seen_before_is_described_as_psycopg_describes_it(postgres_engine):
    with postgres_engine.connect() as connection:
        first = described(connection, "SELECT 1 AS a, 'x'::text AS b")
        again = described(connection, "SELECT 2 AS a, 'y'::text AS b")
        swapped = described(connection, "SELECT 'z'::text AS a, 3 AS b")
        renamed = described(connection, "SELECT 4 AS c, 'w'::text AS b")
        wide = described(connection, "SELECT 4 AS c, 'w'::varchar(3) AS b")
    assert first == again == [("a", 23), ("b", 25)]
    assert swapped == [("a", 25), ("b", 23)]
    assert renamed == [("c", 23), ("b", 25)]
    assert wide == [("c", 23), ("b", 1043)]


def test_sqlalchemy_rows_read_through_the_reused_descriptions(postgres_engine):
    with postgres_engine.connect() as connection:
        rows = [connection.execute(text("SELECT :n AS n, 'k' || :n AS label"), {"n": n}).one()
                for n in range(3)]
    assert [(row.n, row.label) for row in rows] == [(0, "k0"), (1, "k1"), (2, "k2")]


def test_a_description_list_is_the_callers_own(postgres_engine):
    with postgres_engine.connect() as connection:
        cursor = connection.connection.dbapi_connection.cursor()
        cursor.execute("SELECT 1 AS a")
        cursor.description.clear()
        cursor.execute("SELECT 2 AS a")
        assert [column.name for column in cursor.description] == ["a"]


def test_an_attempt_must_answer_a_variant_of_its_own(app, load_bundled):
    """The database refuses an attempt whose user, version, exercise or assignment is
    not its variant's (composite keys from attempts to variants and versions)."""
    load_bundled("branching", "sigmoid-neuron")
    with app.app_context():
        session = db.get_session()
        ann = service.create_user(session, "ann", Role.STUDENT)
        bob = service.create_user(session, "bob", Role.STUDENT)
        teacher = service.create_user(session, "tess", Role.INSTRUCTOR)
        version = service.latest_version(session, "branching")
        other = service.latest_version(session, "sigmoid-neuron")
        course = service.create_course(session, teacher, "C")
        assignment = service.create_assignment(session, teacher, course.id, "branching",
                                               None, None, None, False)
        variant = service.current_variant(session, ann, version)
        row = {"user_id": ann.id, "exercise_id": "branching",
               "exercise_version_id": version.id, "variant_id": variant.id,
               "assignment_id": None, "number": 1, "answers": {}, "result": {},
               "score": 0.0, "created_at": utcnow()}
        wrong = [{"user_id": bob.id}, {"exercise_version_id": other.id},
                 {"exercise_id": "sigmoid-neuron"}, {"assignment_id": assignment.id},
                 {"variant_id": variant.id + 1000}]
        for change in wrong:
            with pytest.raises(IntegrityError):
                session.execute(insert(Attempt).values(**{**row, **change}))
            session.rollback()
        session.execute(insert(Attempt).values(**row))
        session.commit()
