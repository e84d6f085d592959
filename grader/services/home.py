"""A user's home: their courses with each assignment's times and attempts, and the
exercises open to them for practice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.models import Assignment, Attempt, CourseRole, ExerciseVersion, ScorePolicy, utcnow
from grader.services.accounts import Caller
from grader.services.attempts import attempts_left
from grader.services.courses import visible_courses
from grader.services.exercises import title_in, visible_exercises
from grader.services.gradebook import latest_scores

Window = Literal["upcoming", "open", "closed"]


@dataclass(frozen=True)
class AssignmentEntry:
    id: int
    title: str
    exercise_id: str
    opens_at: datetime | None
    due_at: datetime | None
    window: Window  # now: not open yet, open, or past its due time
    max_attempts: int | None
    attempts_used: int
    attempts_left: int | None  # None: unlimited
    score: float | None  # the one that counts (its score policy); None: no attempt yet
    score_policy: ScorePolicy


@dataclass(frozen=True)
class CourseEntry:
    id: int
    title: str
    role: CourseRole | None  # None: an admin not enrolled
    assignments: list[AssignmentEntry]


@dataclass(frozen=True)
class PracticeEntry:
    exercise_id: str
    title: str
    attempts: int
    best_score: float | None


@dataclass(frozen=True)
class Home:
    courses: list[CourseEntry]
    practice: list[PracticeEntry]


def window_at(opens_at: datetime | None, due_at: datetime | None, now: datetime) -> Window:
    if opens_at is not None and now < opens_at:
        return "upcoming"
    if due_at is not None and now >= due_at:
        return "closed"
    return "open"


def home_of(session: Session, actor: Caller, language: str = "en") -> Home:
    """What the user's home page lists (read only), exercise titles in `language` (a
    tag such as "pt-BR") where the exercise has them."""
    courses = visible_courses(session, actor)
    course_ids = [course.id for course, _ in courses]
    rows = session.execute(
        select(Assignment, ExerciseVersion)
        .join(ExerciseVersion, ExerciseVersion.id == Assignment.exercise_version_id)
        .where(Assignment.course_id.in_(course_ids))
        .order_by(Assignment.due_at.is_(None), Assignment.due_at, Assignment.id)
    ).all() if course_ids else []
    mine = {
        assignment_id: (used, best) for assignment_id, used, best in session.execute(
            select(Attempt.assignment_id, func.max(Attempt.number), func.max(Attempt.score))
            .where(Attempt.user_id == actor.id, Attempt.assignment_id.is_not(None))
            .group_by(Attempt.assignment_id)
        )
    }
    latest = latest_scores(session, [a.id for a, _version in rows
                                     if a.score_policy is ScorePolicy.LATEST], actor.id)
    now = utcnow()
    by_course: dict[int, list[AssignmentEntry]] = {course_id: [] for course_id in course_ids}
    for assignment, version in rows:
        used, best = mine.get(assignment.id, (0, None))
        by_course[assignment.course_id].append(AssignmentEntry(
            assignment.id, title_in(version, language), version.exercise_id,
            assignment.opens_at, assignment.due_at,
            window_at(assignment.opens_at, assignment.due_at, now), assignment.max_attempts,
            used, attempts_left(assignment.max_attempts, used),
            latest.get((actor.id, assignment.id)) if (
                assignment.score_policy is ScorePolicy.LATEST) else best,
            assignment.score_policy))
    practised = {
        exercise_id: (count, best) for exercise_id, count, best in session.execute(
            select(Attempt.exercise_id, func.count(Attempt.id), func.max(Attempt.score))
            .where(Attempt.user_id == actor.id, Attempt.assignment_id.is_(None))
            .group_by(Attempt.exercise_id)
        )
    }
    practice = []
    for version in visible_exercises(session, actor):
        if not version.practice:
            continue  # staff see every exercise; home lists those open for practice
        count, best = practised.get(version.exercise_id, (0, None))
        practice.append(PracticeEntry(version.exercise_id, title_in(version, language), count,
                                      best))
    return Home(
        [CourseEntry(course.id, course.title, role, by_course[course.id])
         for course, role in courses],
        practice,
    )
