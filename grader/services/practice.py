"""Open practice: a user's own variant of an exercise, fresh variants on request, and
unlimited attempts that belong to no course.

Practice never grades the numbers of an assignment open to the user
(`grader.services.exam_guard`): a practice variant with those numbers is replaced by
one drawn with others, and where no others can be drawn (fixed inputs) practice is
refused until the assignment is due (PracticeClosed).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from grader.db import first_row
from grader.i18n import gettext as _
from grader.models import Assignment, Attempt, ExerciseRecord, ExerciseVersion, VariantRecord
from grader.services.accounts import Caller
from grader.services.attempts import (
    INSERT_TRIES,
    TOO_MANY_AT_ONCE,
    AttemptOutcome,
    AttemptRecord,
    grade_submission,
    replay,
    request_fingerprint,
    store_attempt,
)
from grader.services.errors import Forbidden, NotFound, VariantReplaced, quoted_name
from grader.services.exam_guard import OpenNumbers, open_numbers
from grader.services.exercises import latest_version
from grader.services.rows import (
    VARIANT_COLUMNS,
    VERSION_COLUMNS,
    VariantLike,
    VariantRow,
    VersionRow,
    variant_row,
    version_row,
)
from grader.services.transactions import run_transaction
from grader.services.variants import add_variant, variant_for
from grader.services.visibility import may_read_closed, practice_scope

# The latest version of an exercise with the user's latest practice variant of it.
_PRACTICE_TARGET = (
    select(*VERSION_COLUMNS, *VARIANT_COLUMNS)
    .join(ExerciseRecord, and_(ExerciseRecord.id == ExerciseVersion.exercise_id,
                               ExerciseRecord.latest_version == ExerciseVersion.number))
    .outerjoin(VariantRecord, and_(VariantRecord.exercise_version_id == ExerciseVersion.id,
                                   VariantRecord.user_id == bindparam("user_id"),
                                   VariantRecord.assignment_id.is_(None)))
    .where(ExerciseVersion.exercise_id == bindparam("exercise_id"))
    .order_by(VariantRecord.number.desc())
    .limit(1)
)


def _practice_target(
    session: Session, actor: Caller, exercise_id: str
) -> tuple[VersionRow, VariantRow | None, OpenNumbers]:
    """The latest version of an exercise the user may practise, with the user's
    latest practice variant of it and the numbers of the assignments on it open to
    them (NotFound, Forbidden)."""
    row = first_row(session, _PRACTICE_TARGET, {"exercise_id": exercise_id,
                                                "user_id": actor.id})
    if row is None:
        raise NotFound(_("no exercise {id}").format(id=quoted_name(exercise_id)))
    if not row.practice and not may_read_closed(session, actor, exercise_id):
        raise Forbidden(_("exercise {id} is not open for practice").format(
            id=quoted_name(exercise_id)))
    guarded = open_numbers(session, actor.id, exercise_id)
    undrawn = [a.id for a in guarded.assignments if not a.inputs]
    if undrawn:
        # An open assignment whose numbers are not drawn yet: draw them now, so that
        # practice avoids them (in a small space of variants, practice could otherwise
        # go through every one before the assignment is opened).
        for assignment in session.execute(
                select(Assignment).where(Assignment.id.in_(undrawn))).scalars():
            variant_for(session, actor, assignment.exercise_version, assignment)
        guarded = open_numbers(session, actor.id, exercise_id)
    return version_row(session, row), variant_row(row), guarded


def _current(session: Session, actor: Caller, version: VersionRow,
             latest: VariantRow | None, guarded: OpenNumbers) -> VariantLike:
    """The practice variant to answer: the latest, unless it has an open assignment's
    numbers (then a new one with others), or a first one."""
    if latest is not None and not guarded.covers(latest.inputs):
        return latest
    number = latest.number + 1 if latest is not None else 1
    return add_variant(session, actor, version, None, number, open_numbers=guarded)


def _variant_now(session: Session, actor: Caller,
                 exercise_id: str) -> tuple[VersionRow, VariantLike]:
    version, latest, guarded = _practice_target(session, actor, exercise_id)
    return version, _current(session, actor, version, latest, guarded)


def practice_variant(
    session: Session, actor: Caller, exercise_id: str
) -> tuple[VersionRow, VariantLike]:
    """The user's practice variant of an exercise, drawn on first visit (PracticeClosed
    when only an open assignment's numbers can be drawn)."""
    return run_transaction(session, lambda: _variant_now(session, actor, exercise_id),
                           tries=2, exhausted=_(TOO_MANY_AT_ONCE))


def new_practice_variant(
    session: Session, actor: Caller, exercise_id: str
) -> tuple[VersionRow, VariantRecord]:
    """A fresh practice variant on request (never an open assignment's numbers)."""

    def draw() -> tuple[VersionRow, VariantRecord]:
        version, latest, guarded = _practice_target(session, actor, exercise_id)
        number = latest.number + 1 if latest else 1
        return version, add_variant(session, actor, version, None, number,
                                    open_numbers=guarded)

    return run_transaction(session, draw, tries=INSERT_TRIES, exhausted=_(TOO_MANY_AT_ONCE))


def submit_practice(
    session: Session, actor: Caller, exercise_id: str, answers: Any, key: str | None
) -> AttemptOutcome:
    """Grade and store a practice attempt (unlimited, not part of any course), never
    on an open assignment's numbers (PracticeClosed)."""
    fingerprint = request_fingerprint("practice", exercise_id, answers, key)

    def submit() -> AttemptOutcome:
        version, latest, guarded = _practice_target(session, actor, exercise_id)
        replayed = replay(session, actor, key, fingerprint, None)
        if replayed is not None:
            return replayed
        variant = _current(session, actor, version, latest, guarded)
        if latest is not None and variant is not latest:
            # The numbers the caller answered were replaced: grading the answers against
            # the new ones would be meaningless, so refuse like a stale page.
            raise VariantReplaced(_("new numbers were drawn for this exercise: fetch "
                                    "the exercise again and answer them"))
        result = grade_submission(version.exercise, variant, answers)
        return store_attempt(session, actor, version, variant, None, answers, result, key,
                             fingerprint)

    return run_transaction(session, submit, tries=INSERT_TRIES, exhausted=_(TOO_MANY_AT_ONCE))


def practice_attempts(
    session: Session, actor: Caller, exercise_id: str, username: str | None = None
) -> list[AttemptRecord]:
    """A user's practice attempts at an exercise; another user's only as
    `grader.services.visibility.practice_scope` allows (Forbidden): an instructor sees
    those made since the user joined their course."""
    scope = practice_scope(session, actor, username)
    latest_version(session, exercise_id)  # NotFound for an unknown exercise
    return [AttemptRecord.of(a) for a in session.execute(
        select(Attempt)
        .where(Attempt.user_id == scope.user_id, Attempt.exercise_id == exercise_id,
               Attempt.assignment_id.is_(None), *scope.where(Attempt.created_at))
        .order_by(Attempt.number)
    ).scalars()]
