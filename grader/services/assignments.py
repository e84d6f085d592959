"""A student's side of an assignment: their variant, attempts used and left, and
submitting within the assignment's window and attempt limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, select
from sqlalchemy.orm import Session

from grader.db import first_row
from grader.i18n import gettext as _
from grader.i18n import time_text
from grader.models import (
    Assignment,
    Attempt,
    Enrollment,
    ExerciseVersion,
    Feedback,
    LtiResourceLink,
    VariantRecord,
    utcnow,
)
from grader.services.accounts import Caller
from grader.services.attempts import (
    INSERT_TRIES,
    TOO_MANY_AT_ONCE,
    AttemptOutcome,
    AttemptRecord,
    attempts_left,
    attempts_used,
    grade_submission,
    replay,
    request_fingerprint,
    store_attempt,
)
from grader.services.courses import (
    assignment_access,
    check_course_access,
    is_course_staff,
    teaches,
)
from grader.services.errors import AssignmentClosed, Forbidden, NotFound
from grader.services.rows import (
    VARIANT_COLUMNS,
    VERSION_COLUMNS,
    AssignmentLike,
    AssignmentRow,
    VariantLike,
    VariantRow,
    variant_row,
    version_row,
)
from grader.services.transactions import run_transaction
from grader.services.variants import add_variant, latest_variant, variant_for
from grader.services.visibility import course_member


def check_window(assignment: AssignmentLike, now: datetime, *, submitting: bool) -> None:
    if assignment.opens_at is not None and now < assignment.opens_at:
        raise AssignmentClosed(_("the assignment opens at {time}").format(
            time=time_text(assignment.opens_at)))
    if submitting and assignment.due_at is not None and now >= assignment.due_at:
        raise AssignmentClosed(_("the assignment was due at {time}").format(
            time=time_text(assignment.due_at)))


@dataclass(frozen=True)
class AssignmentView:
    assignment: Assignment
    variant: VariantRecord
    attempts_used: int
    attempts_left: int | None
    # What the user's attempts show them: the feedback policy, or all (course staff).
    feedback: Feedback = Feedback.FULL

    def accepts_attempts(self, now: datetime) -> bool:
        """Whether an attempt submitted at `now` can count: the assignment is open and
        attempts are left."""
        try:
            check_window(self.assignment, now, submitting=True)
        except AssignmentClosed:
            return False
        return self.attempts_left is None or self.attempts_left > 0


def assignment_variant(session: Session, actor: Caller, assignment_id: int) -> AssignmentView:
    """The user's variant of an assignment, with attempts used and left."""

    def view() -> AssignmentView:
        assignment, enrollment = assignment_access(session, actor, assignment_id)
        staff = is_course_staff(actor, enrollment)
        if not staff:
            check_window(assignment, utcnow(), submitting=False)
        version = assignment.exercise_version
        used = attempts_used(session, actor.id, version.exercise_id, assignment)
        left = attempts_left(assignment.max_attempts, used)
        # No attempt left: show the last variant rather than draw one never answered.
        variant = latest_variant(session, actor.id, version, assignment) if left == 0 else None
        if variant is None:
            variant = variant_for(session, actor, version, assignment)
        return AssignmentView(assignment, variant, used, left,
                              Feedback.FULL if staff else assignment.feedback)

    return run_transaction(session, view, tries=INSERT_TRIES, exhausted=_(TOO_MANY_AT_ONCE))


# An assignment with the caller's role in its course, its pinned version and the
# caller's latest variant of it: what submitting needs, in one statement.
_SUBMIT_TARGET = (
    select(Assignment.id.label("assignment_id"), Assignment.max_attempts, Assignment.opens_at,
           Assignment.due_at, Assignment.new_variant_each_attempt, Assignment.feedback,
           Enrollment.role.label("course_role"),
           exists().where(LtiResourceLink.assignment_id == Assignment.id).label("lti_linked"),
           *VERSION_COLUMNS, *VARIANT_COLUMNS)
    .join(ExerciseVersion, ExerciseVersion.id == Assignment.exercise_version_id)
    .outerjoin(Enrollment, and_(Enrollment.course_id == Assignment.course_id,
                                Enrollment.user_id == bindparam("user_id")))
    .outerjoin(VariantRecord, and_(VariantRecord.assignment_id == Assignment.id,
                                   VariantRecord.user_id == bindparam("user_id")))
    .where(Assignment.id == bindparam("assignment_id"))
    .order_by(VariantRecord.number.desc())
    .limit(1)
)


def _submit_target(
    session: Session, actor: Caller, assignment_id: int
) -> tuple[AssignmentRow, VariantRow | None, Feedback]:
    """An assignment, with access checked as for its course (NotFound, Forbidden), the
    user's latest variant of it, and the feedback the user is shown (course staff: all)."""
    row = first_row(session, _SUBMIT_TARGET, {"assignment_id": assignment_id,
                                              "user_id": actor.id})
    if row is None:
        raise NotFound(_("no assignment {id}").format(id=assignment_id))
    check_course_access(actor, row.course_role, manage=False)
    assignment = AssignmentRow(row.assignment_id, row.max_attempts, row.opens_at, row.due_at,
                               row.new_variant_each_attempt, version_row(session, row),
                               bool(row.lti_linked))
    shown = Feedback.FULL if teaches(actor, row.course_role) else row.feedback
    return assignment, variant_row(row), shown


class TransactionNeeded(Exception):
    """An assignment placed in an LMS, submitted to on an autocommit session: its
    attempt and its score jobs must be written in one transaction. Nothing was
    written; submit again on a transactional session."""


def submit_assignment(
    session: Session, actor: Caller, assignment_id: int, answers: Any, key: str | None,
    *, autocommit: bool = False,
) -> AttemptOutcome:
    """Grade and store an attempt at an assignment, within its window and limit; the
    outcome shows what the assignment's feedback policy lets the user see (the full
    result is stored). `autocommit`: the session runs each statement as its own
    transaction (the fast path); TransactionNeeded for an assignment placed in an LMS."""
    fingerprint = request_fingerprint("assignment", assignment_id, answers, key)

    def submit() -> AttemptOutcome:
        assignment, latest, shown = _submit_target(session, actor, assignment_id)
        if autocommit and assignment.lti_linked:
            raise TransactionNeeded()
        replayed = replay(session, actor, key, fingerprint, assignment.max_attempts)
        if replayed is not None:
            return replayed.shown_as(shown)
        check_window(assignment, utcnow(), submitting=True)
        version = assignment.exercise_version
        # The latest variant is the one the user was shown; an answered one is refused
        # (fresh variant per attempt) when the attempt is stored.
        variant: VariantLike = latest or add_variant(session, actor, version, assignment, 1)
        result = grade_submission(version.exercise, variant, answers)
        return store_attempt(session, actor, version, variant, assignment, answers, result,
                             key, fingerprint, passback=assignment.lti_linked).shown_as(shown)

    return run_transaction(session, submit, tries=INSERT_TRIES, exhausted=_(TOO_MANY_AT_ONCE))


def assignment_attempts(
    session: Session, actor: Caller, assignment_id: int, username: str | None
) -> list[AttemptRecord]:
    """A user's attempts at an assignment; another user's only for course staff, who
    see every result in full, of the users enrolled in the course (Forbidden for
    anyone else, whether or not the account exists). A student sees what the feedback
    policy shows."""
    assignment, enrollment = assignment_access(session, actor, assignment_id)
    staff = is_course_staff(actor, enrollment)
    shown = Feedback.FULL if staff else assignment.feedback
    user_id = actor.id
    if username is not None and username != actor.username:
        if not staff:
            raise Forbidden(_("only the course's instructors may see another user's "
                              "attempts"))
        user_id = course_member(session, actor, assignment.course_id, username)
    return [AttemptRecord.of(a).shown_as(shown) for a in session.execute(
        select(Attempt)
        .where(Attempt.assignment_id == assignment.id, Attempt.user_id == user_id)
        .order_by(Attempt.number)
    ).scalars()]
