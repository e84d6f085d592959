"""The gradebook: each student's best score at each assignment of a course."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.models import Assignment, Attempt, Course, CourseRole, Enrollment, User
from grader.services.accounts import Caller
from grader.services.courses import course_access


@dataclass(frozen=True)
class GradebookRow:
    username: str
    best: dict[int, float | None]  # assignment id -> best score, None: no attempt
    attempts: dict[int, int]


@dataclass(frozen=True)
class Gradebook:
    course: Course
    assignments: list[Assignment]
    rows: list[GradebookRow]

    def titles(self) -> Iterator[tuple[Assignment, str]]:
        for assignment in self.assignments:
            yield assignment, assignment.exercise_version.title


def gradebook(session: Session, actor: Caller, course_id: int) -> Gradebook:
    """Best score per student per assignment (course staff)."""
    course, _ = course_access(session, actor, course_id, manage=True)
    assignments = list(session.execute(
        select(Assignment).where(Assignment.course_id == course_id).order_by(Assignment.id)
    ).scalars())
    students = list(session.execute(
        select(User)
        .join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.course_id == course_id, Enrollment.role == CourseRole.STUDENT)
        .order_by(User.username)
    ).scalars())
    best: dict[tuple[int, int | None], tuple[float, int]] = {
        (user_id, assignment_id): (score, count)
        for user_id, assignment_id, score, count in session.execute(
            select(Attempt.user_id, Attempt.assignment_id, func.max(Attempt.score),
                   func.count(Attempt.id))
            .join(Assignment, Assignment.id == Attempt.assignment_id)
            .where(Assignment.course_id == course_id)
            .group_by(Attempt.user_id, Attempt.assignment_id)
        )
    }
    rows = []
    for student in students:
        scores: dict[int, float | None] = {}
        counts: dict[int, int] = {}
        for assignment in assignments:
            score, count = best.get((student.id, assignment.id), (None, 0))
            scores[assignment.id] = score
            counts[assignment.id] = count
        rows.append(GradebookRow(student.username, scores, counts))
    return Gradebook(course, assignments, rows)
