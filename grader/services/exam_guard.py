"""Keeping an open assignment's numbers out of practice and out of released solutions.

While an assignment on an exercise is open for a student (opened, not yet due), the
student's practice of that exercise must not grade the numbers the assignment gave
them, and no solution shown to them may be of those numbers. `open_numbers` finds the
inputs of the student's variants in such assignments (for a fixed-input exercise whose
variant is not drawn yet, its fixed inputs); practice draws other numbers, or, when
there are none to draw (fixed inputs), is refused until the assignment is due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from engine import ExerciseError, draw_variant
from grader.i18n import gettext as _
from grader.i18n import time_text
from grader.models import (
    Assignment,
    CourseRole,
    Enrollment,
    ExerciseVersion,
    VariantRecord,
    utcnow,
)
from grader.services.errors import PracticeClosed, SolutionNotReleased, quoted_name
from grader.services.exercises import parsed


@dataclass(frozen=True)
class OpenAssignment:
    """An assignment open to the student, and the numbers it gave them."""

    id: int
    due_at: datetime | None
    inputs: list[dict[str, float]]


@dataclass(frozen=True)
class OpenNumbers:
    """The numbers of a student's open assignments on one exercise."""

    exercise_id: str
    assignments: list[OpenAssignment] = field(default_factory=list)

    def covering(self, inputs: Mapping[str, float] | None = None) -> list[OpenAssignment]:
        """The open assignments that gave the student these very numbers (None: any
        numbers)."""
        if inputs is None:
            return [a for a in self.assignments if a.inputs]
        wanted = dict(inputs)
        return [a for a in self.assignments if any(given == wanted for given in a.inputs)]

    def without(self, assignment_id: int) -> OpenNumbers:
        """The numbers of the other open assignments."""
        return OpenNumbers(self.exercise_id,
                           [a for a in self.assignments if a.id != assignment_id])

    def covers(self, inputs: Mapping[str, float]) -> bool:
        return bool(self.covering(inputs))

    def until(self, inputs: Mapping[str, float] | None = None) -> datetime | None:
        """When the last assignment that gave these numbers is due (None: one has no
        due time, so they stay covered while it is open)."""
        dues = [a.due_at for a in self.covering(inputs)]
        if not dues or any(due is None for due in dues):
            return None
        return max(due for due in dues if due is not None)

    def practice_refusal(self) -> PracticeClosed:
        """Why practice is refused (no numbers but the open assignments' could be
        drawn), and until when."""
        until = self.until()
        covering = self.covering()
        assignment = covering[0].id if covering else None
        if until is None:
            detail = _("exercise {id} is part of an assignment open to you, with the same "
                       "numbers: practising it is closed while the assignment is open")
        else:
            detail = _("exercise {id} is part of an assignment open to you, with the same "
                       "numbers: practising it opens again once the assignment is due, at "
                       "{due_at}")
        return PracticeClosed(
            detail.format(id=quoted_name(self.exercise_id),
                          due_at=time_text(until)),
            until=until, assignment=assignment)

    def check_solution(self, inputs: Mapping[str, float]) -> None:
        """SolutionNotReleased when a solution of these numbers would show an open
        assignment's answers."""
        if not self.covers(inputs):
            return
        until = self.until(inputs)
        if until is None:
            raise SolutionNotReleased(_("this solution is of the numbers of an assignment "
                                        "open to you: it is not shown while that "
                                        "assignment is open"))
        raise SolutionNotReleased(_("this solution is of the numbers of an assignment open "
                                    "to you: it is shown once that assignment is due, at "
                                    "{due_at}").format(due_at=time_text(until)))


# The user's assignments on an exercise open at `now`, in courses where the user is a
# student, with the user's variants of each (columns only: it runs on every practice
# request).
_OPEN_ASSIGNMENTS = (
    select(Assignment.id, Assignment.due_at, ExerciseVersion.id.label("version_id"),
           ExerciseVersion.content_hash, VariantRecord.inputs)
    .join(Enrollment, and_(Enrollment.course_id == Assignment.course_id,
                           Enrollment.user_id == bindparam("user_id"),
                           Enrollment.role == CourseRole.STUDENT))
    .join(ExerciseVersion, ExerciseVersion.id == Assignment.exercise_version_id)
    .outerjoin(VariantRecord, and_(VariantRecord.assignment_id == Assignment.id,
                                   VariantRecord.user_id == bindparam("user_id")))
    .where(ExerciseVersion.exercise_id == bindparam("exercise_id"),
           or_(Assignment.opens_at.is_(None), Assignment.opens_at <= bindparam("now")),
           or_(Assignment.due_at.is_(None), Assignment.due_at > bindparam("now")))
    .order_by(Assignment.id)
)


def open_numbers(session: Session, user_id: int, exercise_id: str,
                 now: datetime | None = None) -> OpenNumbers:
    """The numbers of the user's assignments on the exercise that are open now, in
    courses where the user is a student."""
    rows = session.execute(_OPEN_ASSIGNMENTS, {
        "user_id": user_id, "exercise_id": exercise_id, "now": now or utcnow()}).all()
    found: dict[int, OpenAssignment] = {}
    for row in rows:
        entry = found.setdefault(row.id, OpenAssignment(row.id, row.due_at, []))
        if row.inputs is not None:
            entry.inputs.append({k: float(v) for k, v in row.inputs.items()})
    for row in rows:
        entry = found[row.id]
        if not entry.inputs:
            entry.inputs.extend(_fixed_inputs(session, row.version_id, row.content_hash))
    return OpenNumbers(exercise_id, list(found.values()))


def _fixed_inputs(session: Session, version_id: int, content_hash: str
                  ) -> list[dict[str, float]]:
    """The numbers every student of a fixed-input version is given (none for a
    randomized one: its variants are drawn apart from the student's practice)."""
    exercise = parsed(content_hash,
                      lambda: session.get_one(ExerciseVersion, version_id).yaml_text)
    if exercise.randomized:
        return []
    try:
        return [dict(draw_variant(exercise, None).inputs)]
    except ExerciseError:
        return []
