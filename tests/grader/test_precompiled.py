"""Precompiled statements give what Connection.execute() gives, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from grader import auth, db, service
from grader.models import ApiToken, Attempt, CourseRole, Role, User
from grader.precompiled import Precompiled


@pytest.fixture
def scene(app, load_bundled):
    """A student with a token, a practice variant and an assignment variant of
    `branching` (inputs stored as JSON), and an instructor."""
    load_bundled("branching")
    with app.app_context():
        session = db.get_session()
        ann = service.create_user(session, "ann", Role.STUDENT)
        token = service.create_token(session, "ann")
        teacher = service.create_user(session, "tess", Role.INSTRUCTOR)
        course = service.create_course(session, teacher, "C")
        assignment = service.create_assignment(
            session, teacher, course.id, "branching", 3,
            datetime(2020, 1, 1, tzinfo=UTC), datetime(2999, 1, 1, tzinfo=UTC), True)
        service.enroll(session, teacher, course.id, "ann", CourseRole.STUDENT)
        version = service.latest_version(session, "branching")
        practice = service.current_variant(session, ann, version)
        assigned = service.current_variant(session, ann, version, assignment)
        session.commit()
        return {"user_id": ann.id, "public_id": token.split("_")[1],
                "version_id": version.id, "practice_variant": practice.id,
                "assignment_id": assignment.id, "assignment_variant": assigned.id}


def both_ways(app, statement: Precompiled, parameters: dict) -> tuple:
    with app.app_context():
        connection = db.get_session().connection()
        fast = statement.first(connection, parameters)
        slow = connection.execute(statement.statement, parameters).first()
    return fast, slow


@pytest.mark.parametrize("name, parameters", [
    ("_PRACTICE_SUBMIT", {"exercise_id": "branching"}),
    ("_PRACTICE_SUBMIT", {"exercise_id": "no-such-exercise"}),
    ("_ASSIGNMENT_SUBMIT", {}),
    ("_ASSIGNMENT_SUBMIT", {"assignment_id": 10_000}),
])
def test_the_submit_path_reads_the_rows_sqlalchemy_reads(app, scene, name, parameters):
    statement = getattr(service, name)
    parameters = {"assignment_id": scene["assignment_id"], **parameters,
                  "public_id": scene["public_id"]}
    fast, slow = both_ways(app, statement, parameters)
    assert fast is not None and slow is not None
    assert fast._fields == slow._fields
    assert tuple(fast) == tuple(slow)
    # Types too: the role as the enum, JSON as a dict, the window as aware datetimes.
    assert [type(value) for value in fast] == [type(value) for value in slow]
    assert fast.role is Role.STUDENT
    if name == "_ASSIGNMENT_SUBMIT" and parameters["assignment_id"] == scene["assignment_id"]:
        assert fast.opens_at == datetime(2020, 1, 1, tzinfo=UTC)
        assert isinstance(fast.inputs, dict) and fast.inputs
        assert fast.new_variant_each_attempt is True


def test_no_row_is_none(app, scene):
    fast, slow = both_ways(app, auth._TOKEN_OWNER, {"public_id": "0" * 16})
    assert fast is None and slow is None


def attempt_values(scene, **changes) -> dict:
    return {"user_id": scene["user_id"], "exercise_id": "branching",
            "exercise_version_id": scene["version_id"], "variant_id": scene["practice_variant"],
            "assignment_id": None, "answers": {"forward": {"x": 1.5}},
            "result": db.JsonText('{"score":0.5}'), "score": 0.5,
            "idempotency_key": None, "request_hash": None,
            "created_at": datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC), **changes}


def test_an_insert_stores_what_it_is_given_and_returns_its_columns(app, scene):
    statement = service._numbered_insert(practice=True, limited=False, fresh_variant=False)
    with app.app_context():
        session = db.get_session()
        first = statement.first(session.connection(), attempt_values(scene))
        second = statement.first(session.connection(), attempt_values(scene))
        session.commit()
        stored = session.execute(select(Attempt).where(Attempt.id == second.id)).scalar_one()
    assert first._fields == ("id", "number")
    assert (first.number, second.number) == (1, 2)
    assert stored.answers == {"forward": {"x": 1.5}}
    assert stored.result == {"score": 0.5}
    assert stored.created_at == datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    assert stored.assignment_id is None and stored.idempotency_key is None


def test_an_insert_refused_by_its_checks_returns_none(app, scene):
    statement = service._numbered_insert(practice=False, limited=True, fresh_variant=True)
    values = attempt_values(scene, variant_id=scene["assignment_variant"],
                            assignment_id=scene["assignment_id"])
    with app.app_context():
        session = db.get_session()
        stored = statement.first(session.connection(), {**values, "max_attempts": 3})
        # The variant is answered now: a fresh variant per attempt refuses it.
        again = statement.first(session.connection(), {**values, "max_attempts": 3})
        session.commit()
    assert stored is not None and stored.number == 1
    assert again is None


def test_a_constraint_violation_is_sqlalchemys_integrity_error(app, scene):
    statement = service._numbered_insert(practice=True, limited=False, fresh_variant=False)
    values = attempt_values(scene, idempotency_key="k-1")
    with app.app_context():
        session = db.get_session()
        statement.first(session.connection(), values)
        with pytest.raises(IntegrityError) as raised:
            statement.first(session.connection(), values)
        assert not raised.value.connection_invalidated
        session.rollback()
        # The session goes on after its rollback, as after any failed statement.
        assert session.execute(select(User.username).where(User.id == scene["user_id"])
                               ).scalar_one() == "ann"


def test_statement_listeners_see_every_statement(app, scene):
    """With a listener on the engine (tracing, fault injection), the statement runs
    through SQLAlchemy, which reports it to the listener."""
    seen: list[str] = []

    def listen(connection, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.get_session().get_bind()
        event.listen(engine, "before_cursor_execute", listen)
        try:
            row = auth._TOKEN_OWNER.first(db.get_session().connection(),
                                          {"public_id": scene["public_id"]})
        finally:
            event.remove(engine, "before_cursor_execute", listen)
    assert row.username == "ann"
    assert len(seen) == 1 and "api_tokens" in seen[0]


def test_literal_parameters_and_bind_processors_apply(app, scene):
    """Values the statement carries (LIMIT 1, + 1) and the column types' own
    conversions (an aware datetime in, the same instant out) on both databases."""
    revoked = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC) + timedelta(microseconds=5)
    with app.app_context():
        session = db.get_session()
        session.execute(ApiToken.__table__.update().values(revoked_at=revoked))
        session.commit()
        statement = Precompiled(
            select(ApiToken.revoked_at, (ApiToken.id + 1).label("next_id"))
            .where(ApiToken.revoked_at == bindparam("at", type_=ApiToken.revoked_at.type))
            .limit(1))
        fast = statement.first(session.connection(), {"at": revoked})
        slow = session.connection().execute(statement.statement, {"at": revoked}).first()
    assert fast is not None and tuple(fast) == tuple(slow)
    assert fast.revoked_at == revoked


def test_a_connection_that_died_is_invalidated_and_said_so(app, scene, is_postgres,
                                                            database_url):
    if not is_postgres:
        pytest.skip("terminates a PostgreSQL backend (TEST_DATABASE_URL)")
    with app.app_context():
        session = db.get_session()
        connection = session.connection()
        pid = connection.connection.dbapi_connection.info.backend_pid
        with db.get_engine().connect() as killer:
            killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killer.commit()
        with pytest.raises(DBAPIError) as raised:
            auth._TOKEN_OWNER.first(connection, {"public_id": scene["public_id"]})
        assert raised.value.connection_invalidated
        assert connection.invalidated
        session.rollback()
        row = auth._TOKEN_OWNER.first(session.connection(), {"public_id": scene["public_id"]})
    assert row.username == "ann"


# ---------------------------------------------------------------- as execute() would


def scratch_table():
    from sqlalchemy import JSON, Column, Integer, MetaData, String, Table

    metadata = MetaData()
    return Table("scratch", metadata, Column("id", Integer, primary_key=True),
                 Column("doc", JSON), Column("tag", String(20), default="from python"))


def insert_doc(table):
    from sqlalchemy import insert

    return Precompiled(insert(table).values(doc=bindparam("doc"), tag=bindparam("tag"))
                       .returning(table.c.id))


def test_a_connection_outside_a_transaction_begins_one_as_execute_would(tmp_path):
    """Its caller's commit() then commits; without one the write is rolled back."""
    from sqlalchemy import create_engine, func

    engine = create_engine(f"sqlite:///{tmp_path / 'scratch.sqlite3'}")
    table = scratch_table()
    table.metadata.create_all(engine)
    statement = insert_doc(table)
    with engine.connect() as connection:
        statement.first(connection, {"doc": {"kept": True}, "tag": "a"})
        connection.commit()
        statement.first(connection, {"doc": {"kept": False}, "tag": "b"})
    with engine.connect() as connection:
        stored = connection.execute(select(table.c.doc)).scalars().all()
        assert connection.execute(select(func.count()).select_from(table)).scalar() == 1
    assert stored == [{"kept": True}]
    engine.dispose()


def test_each_engine_processes_values_with_its_own_settings(tmp_path):
    from sqlalchemy import create_engine

    table = scratch_table()
    statement = insert_doc(table)
    texts = []
    for n, serializer in enumerate((lambda value: '{"one": 1}', lambda value: '{"two": 2}')):
        engine = create_engine(f"sqlite:///{tmp_path / f'{n}.sqlite3'}",
                               json_serializer=serializer)
        table.metadata.create_all(engine)
        with engine.begin() as connection:
            statement.first(connection, {"doc": {"ignored": 0}, "tag": "t"})
        with engine.connect() as connection:
            texts.append(connection.execute(text("SELECT doc FROM scratch")).scalar())
        engine.dispose()
    assert texts == ['{"one": 1}', '{"two": 2}']


def test_defaults_computed_in_python_are_refused_not_dropped(tmp_path):
    from sqlalchemy import create_engine, insert

    table = scratch_table()
    engine = create_engine(f"sqlite:///{tmp_path / 'scratch.sqlite3'}")
    table.metadata.create_all(engine)
    statement = Precompiled(insert(table).values(doc=bindparam("doc")).returning(table.c.id))
    with engine.connect() as connection, pytest.raises(ValueError, match="every value"):
        statement.first(connection, {"doc": {}})
    engine.dispose()


def test_a_missing_parameter_is_a_statement_error(app, scene):
    from sqlalchemy.exc import StatementError

    with app.app_context(), pytest.raises(StatementError, match="public_id"):
        auth._TOKEN_OWNER.first(db.get_session().connection(), {})


def test_echo_logging_sees_every_statement(app, scene, caplog):
    with app.app_context():
        engine = db.get_session().get_bind()
        engine.echo = True
        try:
            with caplog.at_level("INFO", logger="sqlalchemy.engine"):
                auth._TOKEN_OWNER.first(db.get_session().connection(),
                                        {"public_id": scene["public_id"]})
        finally:
            engine.echo = False
    assert any("api_tokens" in record.getMessage() for record in caplog.records)


def test_an_autocommit_insert_is_committed_when_it_returns(app, scene):
    """Visible to another connection while its own is still open: the statement is
    finished (SQLite commits an autocommit statement only then), not left pending on
    the cursor kept for the next one."""
    statement = service._numbered_insert(practice=True, limited=False, fresh_variant=False)
    main, autocommit = db.engines(app)
    with autocommit.connect() as connection:
        first = statement.first(connection, attempt_values(scene))
        second = statement.first(connection, attempt_values(scene))
        with main.connect() as other:
            seen = other.execute(select(Attempt.number).order_by(Attempt.number)).scalars()
            assert list(seen) == [first.number, second.number] == [1, 2]
