"""Engine details the service relies on."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from grader import db
from grader.config import Settings


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
