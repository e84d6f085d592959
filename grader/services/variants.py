"""Variants: the numbers each user is given, drawn once and stored (a later engine
release must not change a student's numbers)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Exercise, ExerciseError, Variant, draw_variant
from grader.i18n import gettext as _
from grader.models import Assignment, Attempt, ExerciseVersion, VariantRecord
from grader.services.accounts import Caller
from grader.services.errors import Conflict, quoted_name
from grader.services.exam_guard import OpenNumbers
from grader.services.rows import AssignmentLike, VariantLike, VersionLike, exercise_of
from grader.services.transactions import transaction

SEED_LIMIT = 2**31  # seeds are stored in a 32-bit column
SEED_TRIES = 10  # seeds tried when a drawn seed hits an authoring problem


def as_engine_variant(exercise: Exercise, record: VariantLike) -> Variant:
    """The variant with the numbers the user was given."""
    return Variant(exercise, record.seed, dict(record.inputs))


Avoid = Callable[[Mapping[str, float]], bool]


def _draw(exercise: Exercise, avoid: Avoid | None = None) -> Variant | None:
    """A variant whose numbers `avoid` does not refuse (None when every draw tried
    was refused: a fixed-input exercise, or ranges too narrow to give others)."""
    if not exercise.randomized:
        drawn = draw_variant(exercise, None)
        return None if avoid is not None and avoid(drawn.inputs) else drawn
    refused = False
    for _attempt in range(SEED_TRIES):
        try:
            drawn = draw_variant(exercise, secrets.randbelow(SEED_LIMIT))
        except ExerciseError:  # an unlucky seed of a fragile exercise: try another
            continue
        if avoid is None or not avoid(drawn.inputs):
            return drawn
        refused = True
    if refused:
        return None
    raise Conflict(_("no variant of {id} could be drawn; its author must widen the input "
                     "ranges (see `grader check`)").format(id=quoted_name(exercise.id)))


def _practice_inputs(session: Session, user_id: int, exercise_id: str
                     ) -> list[dict[str, float]]:
    """The numbers of every practice variant the user has of an exercise."""
    return [{k: float(v) for k, v in inputs.items()} for inputs in session.execute(
        select(VariantRecord.inputs)
        .join(ExerciseVersion, ExerciseVersion.id == VariantRecord.exercise_version_id)
        .where(VariantRecord.user_id == user_id, VariantRecord.assignment_id.is_(None),
               ExerciseVersion.exercise_id == exercise_id)
    ).scalars()]


def latest_variant(
    session: Session, user_id: int, version: VersionLike, assignment: AssignmentLike | None
) -> VariantRecord | None:
    query = select(VariantRecord).where(
        VariantRecord.user_id == user_id,
        VariantRecord.exercise_version_id == version.id,
    )
    if assignment is None:
        query = query.where(VariantRecord.assignment_id.is_(None))
    else:
        query = query.where(VariantRecord.assignment_id == assignment.id)
    return session.execute(
        query.order_by(VariantRecord.number.desc()).limit(1)
    ).scalar_one_or_none()


def add_variant(
    session: Session, user: Caller, version: VersionLike, assignment: AssignmentLike | None,
    number: int, *, open_numbers: OpenNumbers | None = None,
) -> VariantRecord:
    """Draw and add variant `number`. A concurrent request that added the same number
    first makes the flush fail (IntegrityError): the use case runs again and finds it.

    A practice variant never has the numbers of an assignment open to the user
    (`open_numbers`: PracticeClosed when no other numbers can be drawn); an assignment
    variant is drawn apart from the user's practice variants where it can be."""
    exercise = exercise_of(version)
    drawn: Variant | None
    if open_numbers is not None:
        drawn = _draw(exercise, open_numbers.covers)
        if drawn is None:
            raise open_numbers.practice_refusal()
    elif assignment is not None and exercise.randomized:
        practised = _practice_inputs(session, user.id, version.exercise_id)
        drawn = _draw(exercise, lambda inputs: dict(inputs) in practised) or _draw(exercise)
    else:
        drawn = _draw(exercise)
    if drawn is None:  # only a draw that avoids nothing is None-free
        raise RuntimeError("a draw without numbers to avoid always gives a variant")
    record = VariantRecord(
        user_id=user.id, exercise_version_id=version.id,
        assignment_id=assignment.id if assignment else None,
        number=number, seed=drawn.seed, inputs=dict(drawn.inputs),
    )
    session.add(record)
    session.flush()
    return record


def current_variant(
    session: Session, user: Caller, version: ExerciseVersion,
    assignment: Assignment | None = None,
) -> VariantRecord:
    """The variant the user answers now, drawn and stored if need be (`variant_for`)."""
    with transaction(session):
        return variant_for(session, user, version, assignment)


def variant_for(
    session: Session, user: Caller, version: ExerciseVersion,
    assignment: Assignment | None = None,
) -> VariantRecord:
    """The variant the user answers now: the latest one, or a first one drawn now.
    With a fresh variant per attempt, an answered variant is followed by a new one."""
    latest = latest_variant(session, user.id, version, assignment)
    if latest is None:
        return add_variant(session, user, version, assignment, 1)
    if assignment is not None and assignment.new_variant_each_attempt and was_answered(
        session, latest
    ):
        return add_variant(session, user, version, assignment, latest.number + 1)
    return latest


def was_answered(session: Session, variant: VariantRecord) -> bool:
    # user and assignment first: the (user, assignment, number) index finds the rows.
    return session.execute(
        select(Attempt.id).where(Attempt.user_id == variant.user_id,
                                 Attempt.assignment_id == variant.assignment_id,
                                 Attempt.variant_id == variant.id).limit(1)
    ).first() is not None
