"""One use case, one transaction: what is retried, what is a conflict, what is a bug."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from grader import sessions
from grader.models import CourseRole, Enrollment, Role, User
from grader.services import accounts
from grader.services.errors import Conflict
from grader.services.transactions import run_transaction, transaction


def test_a_unique_constraint_broken_in_a_block_is_the_conflict_named(app):
    with app.app_context():
        session = sessions.get_session()
        accounts.create_user(session, "ann", Role.STUDENT)
        with pytest.raises(Conflict, match="taken"), transaction(session, conflict="taken"):
            session.add(User(username="ann", role=Role.STUDENT))
            session.flush()


def test_any_other_integrity_error_is_raised_as_the_bug_it_is(app):
    with app.app_context():
        session = sessions.get_session()
        with pytest.raises(IntegrityError), transaction(session, conflict="taken"):
            session.add(Enrollment(course_id=424242, user_id=424242, role=CourseRole.STUDENT))
            session.flush()


def test_a_lost_race_runs_the_use_case_again_and_a_bug_does_not(app):
    with app.app_context():
        session = sessions.get_session()
        accounts.create_user(session, "ann", Role.STUDENT)
        runs = []

        def racing() -> str:
            runs.append(1)
            if len(runs) < 3:  # a concurrent request took the name first, twice
                session.add(User(username="ann", role=Role.STUDENT))
                session.flush()
            return "done"

        assert run_transaction(session, racing, tries=5, exhausted="busy") == "done"
        assert len(runs) == 3

        buggy_runs = []

        def buggy() -> None:
            buggy_runs.append(1)
            session.add(Enrollment(course_id=424242, user_id=424242, role=CourseRole.STUDENT))
            session.flush()

        with pytest.raises(IntegrityError):
            run_transaction(session, buggy, tries=5, exhausted="busy")
        assert len(buggy_runs) == 1


def test_races_lost_every_time_end_in_a_conflict(app):
    with app.app_context():
        session = sessions.get_session()
        accounts.create_user(session, "ann", Role.STUDENT)

        def always_late() -> None:
            session.add(User(username="ann", role=Role.STUDENT))
            session.flush()

        with pytest.raises(Conflict, match="busy"):
            run_transaction(session, always_late, tries=3, exhausted="busy")
