"""Courses, their rosters and assignments, and who may see whom.

Access is checked as the course decides: admins everywhere; enrolled users in their
course; its instructors alone for what manages it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session, lazyload

from grader.i18n import gettext as _
from grader.models import (
    Assignment,
    Course,
    CourseRole,
    Enrollment,
    Feedback,
    Role,
    ScorePolicy,
    User,
)
from grader.services.accounts import USERNAME, USERNAME_MAX, Caller, require_role
from grader.services.errors import Forbidden, NotEnrolled, NotFound, ValidationFailed, quoted_name
from grader.services.exercises import latest_version
from grader.services.transactions import transaction
from grader.services.visibility import may_read_closed


def create_course(session: Session, actor: Caller, title: str) -> Course:
    """A course, with its creator enrolled as its instructor."""
    require_role(actor, Role.INSTRUCTOR)
    with transaction(session):
        course = Course(title=title, created_by=actor.id)
        session.add(course)
        session.flush()
        session.add(Enrollment(course_id=course.id, user_id=actor.id,
                               role=CourseRole.INSTRUCTOR))
    return course


def visible_courses(session: Session, actor: Caller) -> list[tuple[Course, CourseRole | None]]:
    """Courses the user is enrolled in, with the role in each (admins: every course)."""
    query = select(Course, Enrollment.role).outerjoin(
        Enrollment, (Enrollment.course_id == Course.id) & (Enrollment.user_id == actor.id)
    )
    if actor.role is not Role.ADMIN:
        query = query.where(Enrollment.id.is_not(None))
    return [(c, r) for c, r in session.execute(query.order_by(Course.id))]


def course_access(
    session: Session, actor: Caller, course_id: int, *, manage: bool = False
) -> tuple[Course, Enrollment | None]:
    """Load a course and check access.

    Raises NotFound when there is no such course, and Forbidden when the user is not
    enrolled, or, with `manage`, is not the course's instructor or an admin.
    """
    course = session.get(Course, course_id)
    if course is None:
        raise NotFound(_("no course {id}").format(id=course_id))
    enrollment = session.execute(
        select(Enrollment).where(Enrollment.course_id == course_id,
                                 Enrollment.user_id == actor.id)
    ).scalar_one_or_none()
    check_course_access(actor, enrollment.role if enrollment else None, manage=manage)
    return course, enrollment


def check_course_access(actor: Caller, role: CourseRole | None, *, manage: bool) -> None:
    """Forbidden unless the actor is an admin, or enrolled in the course (`role`, None
    when not enrolled) and, with `manage`, its instructor."""
    if actor.role is Role.ADMIN:
        return
    if role is None:
        raise NotEnrolled(_("you are not enrolled in this course"))
    if manage and role is not CourseRole.INSTRUCTOR:
        raise Forbidden(_("only the course's instructors may do this"))


def is_course_staff(actor: Caller, enrollment: Enrollment | None) -> bool:
    return teaches(actor, enrollment.role if enrollment is not None else None)


def teaches(actor: Caller, role: CourseRole | None) -> bool:
    """Whether the actor is course staff: an admin, or the course's instructor (`role`:
    the actor's role in the course, None when not enrolled)."""
    return actor.role is Role.ADMIN or role is CourseRole.INSTRUCTOR


def enroll(
    session: Session, actor: Caller, course_id: int, username: str, role: CourseRole
) -> Enrollment:
    """Enrol a user by username (course instructors). As a student, an unknown
    username gets a student account, as the roster import does: the answer is the same
    whether or not the account existed, so it tells nobody which usernames there are.
    As an instructor, the user must have an instructor account (the same 422 for a
    student account and for no account)."""
    with transaction(session, conflict=_("{username} is already enrolled in this course")
                     .format(username=quoted_name(username))):
        course_access(session, actor, course_id, manage=True)
        if len(username) > USERNAME_MAX or not USERNAME.fullmatch(username):
            raise ValidationFailed(_("not a valid username"), errors=[{
                "pointer": "/user", "detail": _(
                    "letters, digits and . _ @ + - only, starting with a letter or digit, "
                    "at most {count} characters").format(count=USERNAME_MAX)}])
        user = session.execute(
            select(User).where(User.username == username)).scalar_one_or_none()
        if role is CourseRole.INSTRUCTOR and (user is None or not Caller.of(user).is_staff):
            raise ValidationFailed(
                _("only an instructor account can teach a course"),
                errors=[{"pointer": "/user", "detail": _(
                    "{username} has no instructor account").format(
                        username=quoted_name(username))}],
            )
        if user is None:
            user = User(username=username, role=Role.STUDENT)
            session.add(user)
            session.flush()
        enrollment = Enrollment(course_id=course_id, user_id=user.id, role=role, user=user)
        session.add(enrollment)
        session.flush()
    return enrollment


def course_enrollments(session: Session, actor: Caller, course_id: int) -> list[Enrollment]:
    course_access(session, actor, course_id, manage=True)
    return list(session.execute(
        select(Enrollment).where(Enrollment.course_id == course_id).order_by(Enrollment.id)
    ).scalars())


def create_assignment(
    session: Session,
    actor: Caller,
    course_id: int,
    exercise_id: str,
    max_attempts: int | None,
    opens_at: datetime | None,
    due_at: datetime | None,
    new_variant_each_attempt: bool,
    feedback: Feedback = Feedback.FULL,
    solution_after_due: bool = False,
    score_policy: ScorePolicy = ScorePolicy.BEST,
) -> Assignment:
    """An assignment of the exercise's latest version, pinned from now on, with what
    its students are shown."""
    with transaction(session):
        course_access(session, actor, course_id, manage=True)
        try:
            version = latest_version(session, exercise_id)
        except NotFound:
            raise ValidationFailed(
                _("unknown exercise"),
                errors=[{"pointer": "/exercise", "detail": _("no exercise {id}").format(
                    id=quoted_name(exercise_id))}],
            ) from None
        if not version.practice and not may_read_closed(session, actor, exercise_id):
            # Assigning it would make the actor an instructor of a course that assigns
            # it, free to read its solutions.
            raise ValidationFailed(
                _("this exercise is not open for practice"),
                errors=[{"pointer": "/exercise", "detail": _(
                    "only its owner, the instructors of courses that already assign it and "
                    "admins may assign {id}").format(id=quoted_name(exercise_id))}],
            )
        assignment = Assignment(
            course_id=course_id, exercise_version=version, max_attempts=max_attempts,
            opens_at=opens_at, due_at=due_at,
            new_variant_each_attempt=new_variant_each_attempt, feedback=feedback,
            solution_after_due=solution_after_due, score_policy=score_policy,
        )
        session.add(assignment)
    return assignment


def course_assignments(session: Session, actor: Caller, course_id: int) -> list[Assignment]:
    course_access(session, actor, course_id)
    return list(session.execute(
        select(Assignment).where(Assignment.course_id == course_id).order_by(Assignment.id)
    ).scalars())


_ASSIGNMENT_ACCESS = (
    select(Assignment, Enrollment)
    .outerjoin(Enrollment, and_(Enrollment.course_id == Assignment.course_id,
                                Enrollment.user_id == bindparam("user_id")))
    .where(Assignment.id == bindparam("assignment_id"))
    .options(lazyload(Enrollment.user))  # not needed here: skip the join
)


def assignment_access(
    session: Session, actor: Caller, assignment_id: int, *, manage: bool = False
) -> tuple[Assignment, Enrollment | None]:
    """Load an assignment and check access as for its course (NotFound, Forbidden)."""
    row = session.execute(_ASSIGNMENT_ACCESS, {"assignment_id": assignment_id,
                                               "user_id": actor.id}).first()
    if row is None:
        raise NotFound(_("no assignment {id}").format(id=assignment_id))
    assignment, enrollment = row
    check_course_access(actor, enrollment.role if enrollment else None, manage=manage)
    return assignment, enrollment
