"""Engine details the service relies on."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from grader import sessions
from grader.models import Attempt, Role, utcnow
from grader.services import accounts, courses, exercises, variants


def test_an_attempt_must_answer_a_variant_of_its_own(app, load_bundled):
    """The database refuses an attempt whose user, version, exercise or assignment is
    not its variant's (composite keys from attempts to variants and versions)."""
    load_bundled("branching", "sigmoid-neuron")
    with app.app_context():
        session = sessions.get_session()
        ann = accounts.create_user(session, "ann", Role.STUDENT)
        bob = accounts.create_user(session, "bob", Role.STUDENT)
        teacher = accounts.create_user(session, "tess", Role.INSTRUCTOR)
        version = exercises.latest_version(session, "branching")
        other = exercises.latest_version(session, "sigmoid-neuron")
        course = courses.create_course(session, teacher, "C")
        assignment = courses.create_assignment(session, teacher, course.id, "branching",
                                               None, None, None, False)
        variant = variants.current_variant(session, ann, version)
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
