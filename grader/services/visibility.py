"""Who may see whose work: the one place the rules live, for the API and the pages.

- Everyone sees their own attempts, variants and solutions.
- Practice belongs to the student: an instructor sees a student's practice attempts and
  practice variants only from the moment the student joined a course the instructor
  teaches (as a student), never what came before; admins see everything.
- An assignment's attempts are its course's: the course's instructors see those of the
  users enrolled in it; admins any user's.
- An exercise closed to practice (`practice: false`) is readable (its solutions, its
  previews, its text, practising it) by its owner, the instructors of courses that
  assign it, and admins.

A username the actor may not see is refused with the same answer whether or not the
account exists (403, as `grader.services.errors.Forbidden`), so no answer tells anyone
which usernames there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, select
from sqlalchemy.orm import Session, aliased

from grader.i18n import gettext as _
from grader.models import (
    Assignment,
    CourseRole,
    Enrollment,
    ExerciseRecord,
    ExerciseVersion,
    Role,
    User,
)
from grader.services.accounts import Caller, user_named
from grader.services.errors import Forbidden, quoted_name


@dataclass(frozen=True)
class PracticeScope:
    """Whose practice the actor sees, and from when (None: all of it)."""

    user_id: int
    since: datetime | None = None

    def where(self, created_at: Any) -> list[Any]:
        """The conditions on a row's `created_at` column that keep what may be seen."""
        return [] if self.since is None else [created_at >= self.since]


_taught, _theirs = aliased(Enrollment), aliased(Enrollment)
# A user, and when they first joined as a student a course the actor teaches.
_JOINED_AS_STUDENT = (
    select(User.id, func.min(_theirs.created_at).label("since"))
    .join(_theirs, and_(_theirs.user_id == User.id, _theirs.role == CourseRole.STUDENT))
    .join(_taught, and_(_taught.course_id == _theirs.course_id,
                        _taught.user_id == bindparam("actor_id"),
                        _taught.role == CourseRole.INSTRUCTOR))
    .where(User.username == bindparam("username"))
    .group_by(User.id)
)


def practice_scope(session: Session, actor: Caller, username: str | None) -> PracticeScope:
    """Whose practice the actor asks for (`username`; None: their own) and what of it
    they may see. Forbidden for a user who is not the actor's student, the same
    whether or not the account exists; NotFound for an admin naming no one."""
    if username is None or username == actor.username:
        return PracticeScope(actor.id)
    if actor.role is Role.ADMIN:
        return PracticeScope(user_named(session, username).id)
    if actor.role is Role.INSTRUCTOR:
        row = session.execute(_JOINED_AS_STUDENT, {"username": username,
                                                   "actor_id": actor.id}).first()
        if row is not None:
            return PracticeScope(row.id, row.since)
        raise Forbidden(_("{username} is not a student of a course you teach").format(
            username=quoted_name(username)))
    raise Forbidden(_("only instructors may see another user's work"))


def course_member(session: Session, actor: Caller, course_id: int, username: str) -> int:
    """The id of a user whose work in a course the actor, its staff, may see: one
    enrolled in it (admins: anyone; NotFound for no such user). Forbidden otherwise,
    the same whether or not the account exists."""
    if actor.role is Role.ADMIN:
        return user_named(session, username).id
    user_id = session.execute(
        select(User.id).join(Enrollment, Enrollment.user_id == User.id)
        .where(User.username == username, Enrollment.course_id == course_id)
    ).scalar_one_or_none()
    if user_id is None:
        raise Forbidden(_("{username} is not enrolled in this course").format(
            username=quoted_name(username)))
    return user_id


def assigned_in_taught_courses(session: Session, actor: Caller) -> set[str]:
    """The exercises assigned in the courses the actor teaches."""
    return set(session.execute(
        select(ExerciseVersion.exercise_id).distinct()
        .join(Assignment, Assignment.exercise_version_id == ExerciseVersion.id)
        .join(Enrollment, and_(Enrollment.course_id == Assignment.course_id,
                               Enrollment.user_id == actor.id,
                               Enrollment.role == CourseRole.INSTRUCTOR))
    ).scalars())


def teaches_assignment_of(session: Session, actor: Caller, exercise_id: str) -> bool:
    """Whether the actor teaches a course with an assignment of the exercise."""
    return bool(session.execute(select(exists().where(
        Assignment.course_id == Enrollment.course_id,
        Enrollment.user_id == actor.id, Enrollment.role == CourseRole.INSTRUCTOR,
        Assignment.exercise_version_id == ExerciseVersion.id,
        ExerciseVersion.exercise_id == exercise_id))).scalar())


def may_read_closed(session: Session, actor: Caller, exercise_id: str) -> bool:
    """Whether the actor may read an exercise closed to practice: its owner, an
    instructor of a course that assigns it, or an admin."""
    if actor.role is Role.ADMIN:
        return True
    if actor.role is not Role.INSTRUCTOR:
        return False
    owner = session.execute(select(ExerciseRecord.owner_id).where(
        ExerciseRecord.id == exercise_id)).scalar_one_or_none()
    return owner == actor.id or teaches_assignment_of(session, actor, exercise_id)


def check_may_read(session: Session, actor: Caller, version: ExerciseVersion) -> None:
    """Forbidden unless the actor may read this version: any version open to practice,
    else as `may_read_closed`."""
    if version.practice or may_read_closed(session, actor, version.exercise_id):
        return
    raise Forbidden(_("exercise {id} is not open for practice: only its owner, the "
                      "instructors of courses that assign it and admins may read it").format(
        id=quoted_name(version.exercise_id)))
