"""One earlier attempt in full: the numbers its user was given, what they answered,
and its result as the viewer may see it (an assignment's feedback policy for its
students; everything for course staff and in practice). What the pages draw an attempt
from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Exercise
from grader.i18n import gettext as _
from grader.models import Attempt, Feedback
from grader.services.accounts import Caller
from grader.services.courses import assignment_access, is_course_staff
from grader.services.errors import Forbidden, NotFound
from grader.services.exercises import exercise_of_version, latest_version
from grader.services.feedback_policy import shown_result
from grader.services.visibility import course_member, practice_scope


@dataclass(frozen=True)
class AttemptDetail:
    number: int
    exercise_id: str
    exercise: Exercise  # the version it answered
    version: int
    variant_id: int
    variant: int
    inputs: Mapping[str, float]
    answers: Mapping[str, Any]  # as submitted
    result: Mapping[str, Any]  # as the viewer is shown it
    feedback: Feedback
    assignment_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, attempt: Attempt, feedback: Feedback) -> AttemptDetail:
        return cls(attempt.number, attempt.exercise_id,
                   exercise_of_version(attempt.exercise_version),
                   attempt.exercise_version.number, attempt.variant_id,
                   attempt.variant.number, dict(attempt.variant.inputs),
                   dict(attempt.answers), shown_result(attempt.result, feedback), feedback,
                   attempt.assignment_id, attempt.created_at)


def practice_attempt(session: Session, actor: Caller, exercise_id: str, number: int,
                     username: str | None = None) -> AttemptDetail:
    """A user's practice attempt `number` at an exercise (their own; another user's as
    `practice_scope` allows: Forbidden). NotFound when there is no such attempt, or the
    actor may not see it (made before the user joined the instructor's course)."""
    scope = practice_scope(session, actor, username)
    latest_version(session, exercise_id)  # NotFound for an unknown exercise
    attempt = session.execute(
        select(Attempt).where(Attempt.user_id == scope.user_id,
                              Attempt.exercise_id == exercise_id,
                              Attempt.assignment_id.is_(None), Attempt.number == number,
                              *scope.where(Attempt.created_at))
    ).scalar_one_or_none()
    if attempt is None:
        raise NotFound(_("no attempt {number}").format(number=number))
    return AttemptDetail.of(attempt, Feedback.FULL)


def assignment_attempt(session: Session, actor: Caller, assignment_id: int, number: int,
                       username: str | None = None) -> AttemptDetail:
    """A user's attempt `number` at an assignment, as the actor may see it: their own
    under the assignment's feedback policy; course staff see those of the course's
    users in full (Forbidden for a student asking for another's, or for a user not in
    the course). NotFound when there is none."""
    assignment, enrollment = assignment_access(session, actor, assignment_id)
    staff = is_course_staff(actor, enrollment)
    user_id = actor.id
    if username is not None and username != actor.username:
        if not staff:
            raise Forbidden(_("only the course's instructors may see another user's "
                              "attempts"))
        user_id = course_member(session, actor, assignment.course_id, username)
    attempt = session.execute(
        select(Attempt).where(Attempt.user_id == user_id,
                              Attempt.assignment_id == assignment.id, Attempt.number == number)
    ).scalar_one_or_none()
    if attempt is None:
        raise NotFound(_("no attempt {number}").format(number=number))
    return AttemptDetail.of(attempt, Feedback.FULL if staff else assignment.feedback)
