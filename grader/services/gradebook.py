"""The gradebook: each student's score at each assignment of a course, the best or the
latest attempt's as the assignment's score policy says."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from grader.models import (
    Assignment,
    Attempt,
    Course,
    CourseRole,
    Enrollment,
    ScorePolicy,
    User,
)
from grader.services.accounts import Caller
from grader.services.courses import course_access
from grader.services.exercises import title_in


@dataclass(frozen=True)
class GradebookRow:
    username: str
    scores: dict[int, float | None]  # assignment id -> the score that counts; None: none
    best: dict[int, float | None]  # assignment id -> best score, None: no attempt
    attempts: dict[int, int]


@dataclass(frozen=True)
class Gradebook:
    course: Course
    assignments: list[Assignment]
    rows: list[GradebookRow]

    def titles(self, language: str = "en") -> Iterator[tuple[Assignment, str]]:
        """Each assignment and its exercise's title in `language` where it has one."""
        for assignment in self.assignments:
            yield assignment, title_in(assignment.exercise_version, language)


def gradebook(session: Session, actor: Caller, course_id: int) -> Gradebook:
    """Each student's score at each assignment, by its score policy, with the best and
    the number of attempts (course staff)."""
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
    latest = latest_scores(session, [a.id for a in assignments
                                     if a.score_policy is ScorePolicy.LATEST])
    rows = []
    for student in students:
        scores: dict[int, float | None] = {}
        bests: dict[int, float | None] = {}
        counts: dict[int, int] = {}
        for assignment in assignments:
            score, count = best.get((student.id, assignment.id), (None, 0))
            bests[assignment.id] = score
            scores[assignment.id] = latest.get((student.id, assignment.id)) if (
                assignment.score_policy is ScorePolicy.LATEST) else score
            counts[assignment.id] = count
        rows.append(GradebookRow(student.username, scores, bests, counts))
    return Gradebook(course, assignments, rows)


def latest_scores(session: Session, assignment_ids: list[int], user_id: int | None = None
                  ) -> dict[tuple[int, int], float]:
    """(user id, assignment id) -> the score of the user's latest attempt there."""
    if not assignment_ids:
        return {}
    newest = (
        select(Attempt.user_id, Attempt.assignment_id,
               func.max(Attempt.number).label("number"))
        .where(Attempt.assignment_id.in_(assignment_ids),
               *(() if user_id is None else (Attempt.user_id == user_id,)))
        .group_by(Attempt.user_id, Attempt.assignment_id)
        .subquery()
    )
    rows = session.execute(
        select(Attempt.user_id, Attempt.assignment_id, Attempt.score)
        .join(newest, and_(Attempt.user_id == newest.c.user_id,
                           Attempt.assignment_id == newest.c.assignment_id,
                           Attempt.number == newest.c.number))
    )
    return {(user, assignment): score for user, assignment, score in rows
            if assignment is not None}


def counted_score(session: Session, user_id: int, assignment: Assignment) -> float | None:
    """The score that counts for one student at one assignment, by its policy."""
    if assignment.score_policy is ScorePolicy.LATEST:
        return latest_scores(session, [assignment.id], user_id).get((user_id, assignment.id))
    best: float | None = session.execute(
        select(func.max(Attempt.score)).where(Attempt.user_id == user_id,
                                              Attempt.assignment_id == assignment.id)
    ).scalar_one()
    return best
