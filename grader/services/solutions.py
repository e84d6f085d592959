"""Worked reference solutions: for instructors, of a seed or of a student's variant;
for a student, of their own variant in an assignment once it is due, when the
assignment shows solutions then.

A solution of an exercise closed to practice is for its owner, the instructors of
courses that assign it and admins (`grader.services.visibility`); no solution shown to
a user is of the numbers of an assignment still open to them
(`grader.services.exam_guard`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from engine import ExerciseError, Solution, draw_variant, solve
from grader.i18n import gettext as _
from grader.i18n import time_text
from grader.models import (
    Assignment,
    CourseRole,
    Enrollment,
    ExerciseVersion,
    Role,
    VariantRecord,
    utcnow,
)
from grader.services.accounts import Caller, require_role
from grader.services.courses import assignment_access, is_course_staff
from grader.services.errors import NotFound, SolutionNotReleased, ValidationFailed, quoted_name
from grader.services.exam_guard import open_numbers
from grader.services.exercises import exercise_of_version, latest_version
from grader.services.variants import as_engine_variant, latest_variant
from grader.services.visibility import (
    PracticeScope,
    check_may_read,
    course_member,
    practice_scope,
)


@dataclass(frozen=True)
class SolutionView:
    """A worked solution, with the variant it is of when it is a user's."""

    version: ExerciseVersion
    solution: Solution
    variant: VariantRecord | None = None
    assignment_id: int | None = None


def exercise_solution(
    session: Session, actor: Caller, exercise_id: str, username: str | None, seed: int | None,
    assignment_id: int | None = None,
) -> SolutionView:
    """The reference solution of a variant (instructors): of a user's variant in an
    assignment; of a user's practice variant (one drawn since they joined the actor's
    course), else of their latest variant in an assignment the actor may see; or of a
    seed. Forbidden for an exercise closed to practice the actor may not read;
    SolutionNotReleased for the numbers of an assignment open to the actor."""
    require_role(actor, Role.INSTRUCTOR)
    check_may_read(session, actor, latest_version(session, exercise_id))  # before anything
    view = _exercise_solution(session, actor, exercise_id, username, seed, assignment_id)
    check_may_read(session, actor, view.version)  # an assignment's pinned version
    open_numbers(session, actor.id, exercise_id).check_solution(
        view.solution.variant.inputs)
    return view


def _exercise_solution(
    session: Session, actor: Caller, exercise_id: str, username: str | None, seed: int | None,
    assignment_id: int | None,
) -> SolutionView:
    if username is not None and assignment_id is not None:
        return _assignment_solution(session, actor, exercise_id, username, assignment_id)
    if username is not None:
        scope = practice_scope(session, actor, username)
        version = latest_version(session, exercise_id)
        record = _latest_practice_variant(session, scope, version)
        if record is not None:
            return SolutionView(version, _solve(version, record), record)
        found = _latest_assignment_variant(session, actor, scope.user_id, exercise_id)
        if found is None:
            raise NotFound(_("{username} has no variant of {id} yet").format(
                username=quoted_name(username), id=quoted_name(exercise_id)))
        record, assignment = found
        version = assignment.exercise_version
        return SolutionView(version, _solve(version, record), record, assignment.id)
    version = latest_version(session, exercise_id)
    try:
        return SolutionView(version, solve(draw_variant(exercise_of_version(version), seed)))
    except ExerciseError as exc:
        raise ValidationFailed(
            _("no variant can be drawn for this seed"),
            errors=[{"parameter": "seed", "detail": str(exc)}],
        ) from None


def _latest_practice_variant(session: Session, scope: PracticeScope,
                             version: ExerciseVersion) -> VariantRecord | None:
    """The user's latest practice variant of a version that the actor may see."""
    return session.execute(
        select(VariantRecord)
        .where(VariantRecord.user_id == scope.user_id,
               VariantRecord.exercise_version_id == version.id,
               VariantRecord.assignment_id.is_(None), *scope.where(VariantRecord.created_at))
        .order_by(VariantRecord.number.desc())
        .limit(1)
    ).scalar_one_or_none()


def own_assignment_solution(session: Session, actor: Caller, assignment_id: int
                            ) -> SolutionView:
    """The worked solution of the caller's variant in an assignment (the latest, when
    there is one per attempt): course staff may always read it; a student once the
    assignment is due, if it shows solutions then (`check_solution_released`).

    Raises NotFound when there is no such assignment or the caller has no variant of it
    yet, Forbidden when the caller is not enrolled, SolutionNotReleased as above, and
    while another assignment open to the caller gave them the same numbers.
    """
    assignment, enrollment = assignment_access(session, actor, assignment_id)
    if not is_course_staff(actor, enrollment):
        check_solution_released(assignment, utcnow())
    version = assignment.exercise_version
    record = latest_variant(session, actor.id, version, assignment)
    if record is None:
        raise NotFound(_("you have no variant of this assignment yet: open the assignment "
                         "first"))
    # Another assignment open to the caller may have given them the same numbers.
    open_numbers(session, actor.id, version.exercise_id).without(
        assignment.id).check_solution(record.inputs)
    return SolutionView(version, _solve(version, record), record, assignment.id)


def check_solution_released(assignment: Assignment, now: datetime) -> None:
    """SolutionNotReleased unless the assignment shows its solution after the due time,
    has one, and `now` is past it."""
    if not assignment.solution_after_due:
        raise SolutionNotReleased(_("this assignment does not show its solution to "
                                    "students"))
    if assignment.due_at is None:
        raise SolutionNotReleased(_("this assignment has no due time, so its solution is "
                                    "not shown to students"))
    if now < assignment.due_at:
        raise SolutionNotReleased(_("the solution is shown once the assignment is due, at "
                                    "{due_at}").format(due_at=time_text(assignment.due_at)))


def _solve(version: ExerciseVersion, record: VariantRecord) -> Solution:
    return solve(as_engine_variant(exercise_of_version(version), record))


def _assignment_solution(
    session: Session, actor: Caller, exercise_id: str, username: str, assignment_id: int
) -> SolutionView:
    """A user's latest variant in an assignment (the course's instructors, of a user
    enrolled in the course; NotFound, Forbidden, ValidationFailed when the assignment
    is of another exercise)."""
    assignment, _enrollment = assignment_access(session, actor, assignment_id, manage=True)
    version = assignment.exercise_version
    if version.exercise_id != exercise_id:
        raise ValidationFailed(_("the assignment is of another exercise"), errors=[{
            "parameter": "assignment",
            "detail": _("assignment {id} is of {exercise}").format(
                id=assignment_id, exercise=quoted_name(version.exercise_id))}])
    user_id = course_member(session, actor, assignment.course_id, username)
    record = session.execute(
        select(VariantRecord)
        .where(VariantRecord.user_id == user_id, VariantRecord.assignment_id == assignment_id)
        .order_by(VariantRecord.number.desc())
        .limit(1)
    ).scalar_one_or_none()
    if record is None:
        raise NotFound(_("{username} has no variant in assignment {id} yet").format(
            username=quoted_name(username), id=assignment_id))
    return SolutionView(version, _solve(version, record), record, assignment_id)


def _latest_assignment_variant(
    session: Session, actor: Caller, user_id: int, exercise_id: str
) -> tuple[VariantRecord, Assignment] | None:
    """The user's most recent variant of an exercise in any assignment whose course
    the actor teaches (admins: any)."""
    query = (
        select(VariantRecord, Assignment)
        .join(Assignment, Assignment.id == VariantRecord.assignment_id)
        .join(ExerciseVersion, ExerciseVersion.id == Assignment.exercise_version_id)
        .where(VariantRecord.user_id == user_id, ExerciseVersion.exercise_id == exercise_id)
        .order_by(VariantRecord.id.desc())
        .limit(1)
    )
    if actor.role is not Role.ADMIN:
        query = query.join(Enrollment, and_(Enrollment.course_id == Assignment.course_id,
                                            Enrollment.user_id == actor.id,
                                            Enrollment.role == CourseRole.INSTRUCTOR))
    row = session.execute(query).first()
    return None if row is None else (row[0], row[1])
