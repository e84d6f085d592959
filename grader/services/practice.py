"""Open practice: a user's own variant of an exercise, fresh variants on request, and
unlimited attempts that belong to no course."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from grader.db import first_row
from grader.i18n import gettext as _
from grader.models import Attempt, ExerciseRecord, ExerciseVersion, VariantRecord
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
from grader.services.courses import visible_user
from grader.services.errors import Forbidden, NotFound, quoted_name
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
from grader.services.variants import add_variant

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
) -> tuple[VersionRow, VariantRow | None]:
    """The latest version of an exercise the user may practise, with the user's
    latest practice variant of it, in one statement (NotFound, Forbidden)."""
    row = first_row(session, _PRACTICE_TARGET, {"exercise_id": exercise_id,
                                                "user_id": actor.id})
    if row is None:
        raise NotFound(_("no exercise {id}").format(id=quoted_name(exercise_id)))
    if not row.practice and not actor.is_staff:
        raise Forbidden(_("exercise {id} is not open for practice").format(
            id=quoted_name(exercise_id)))
    return version_row(session, row), variant_row(row)


def _variant_now(session: Session, actor: Caller,
                 exercise_id: str) -> tuple[VersionRow, VariantLike]:
    version, variant = _practice_target(session, actor, exercise_id)
    return version, variant or add_variant(session, actor, version, None, 1)


def practice_variant(
    session: Session, actor: Caller, exercise_id: str
) -> tuple[VersionRow, VariantLike]:
    """The user's practice variant of an exercise, drawn on first visit."""
    return run_transaction(session, lambda: _variant_now(session, actor, exercise_id),
                           tries=2, exhausted=_(TOO_MANY_AT_ONCE))


def new_practice_variant(
    session: Session, actor: Caller, exercise_id: str
) -> tuple[VersionRow, VariantRecord]:
    """A fresh practice variant on request."""

    def draw() -> tuple[VersionRow, VariantRecord]:
        version, latest = _practice_target(session, actor, exercise_id)
        number = latest.number + 1 if latest else 1
        return version, add_variant(session, actor, version, None, number)

    return run_transaction(session, draw, tries=INSERT_TRIES, exhausted=_(TOO_MANY_AT_ONCE))


def submit_practice(
    session: Session, actor: Caller, exercise_id: str, answers: Any, key: str | None
) -> AttemptOutcome:
    """Grade and store a practice attempt (unlimited, not part of any course)."""
    fingerprint = request_fingerprint("practice", exercise_id, answers, key)

    def submit() -> AttemptOutcome:
        version, latest = _practice_target(session, actor, exercise_id)
        replayed = replay(session, actor, key, fingerprint, None)
        if replayed is not None:
            return replayed
        variant = latest or add_variant(session, actor, version, None, 1)
        result = grade_submission(version.exercise, variant, answers)
        return store_attempt(session, actor, version, variant, None, answers, result, key,
                             fingerprint)

    return run_transaction(session, submit, tries=INSERT_TRIES, exhausted=_(TOO_MANY_AT_ONCE))


def practice_attempts(
    session: Session, actor: Caller, exercise_id: str, username: str | None = None
) -> list[AttemptRecord]:
    """A user's practice attempts at an exercise; another user's only as
    `visible_user` allows (Forbidden)."""
    user_id = actor.id if username is None else visible_user(session, actor, username).id
    latest_version(session, exercise_id)  # NotFound for an unknown exercise
    return [AttemptRecord.of(a) for a in session.execute(
        select(Attempt)
        .where(Attempt.user_id == user_id, Attempt.exercise_id == exercise_id,
               Attempt.assignment_id.is_(None))
        .order_by(Attempt.number)
    ).scalars()]
