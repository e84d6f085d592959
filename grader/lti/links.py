"""Linking a placement (an LMS resource link) to an assignment: the instructor who
launches an unlinked placement picks one of the course's assignments, or an exercise
to make a new assignment of."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from grader.i18n import gettext as _
from grader.lti.messages import row_id
from grader.models import Assignment, ExerciseVersion, LtiContext, LtiResourceLink
from grader.services import courses, exercises
from grader.services.accounts import Caller
from grader.services.errors import NotFound, ValidationFailed
from grader.services.transactions import transaction


@dataclass(frozen=True)
class LinkChoices:
    link: LtiResourceLink
    course_id: int
    assignments: list[Assignment]
    exercises: list[ExerciseVersion]


def _placement(session: Session, actor: Caller, link_id: int) -> tuple[LtiResourceLink, int]:
    row = session.execute(
        select(LtiResourceLink, LtiContext.course_id)
        .join(LtiContext, LtiContext.id == LtiResourceLink.context_id)
        .where(LtiResourceLink.id == link_id)
    ).first()
    if row is None:
        raise NotFound(_("no LMS placement {id}").format(id=link_id))
    link, course_id = row
    courses.course_access(session, actor, course_id, manage=True)
    return link, course_id


def link_choices(session: Session, actor: Caller, link_id: int) -> LinkChoices:
    """What a placement may be linked to (the course's instructors; NotFound,
    Forbidden)."""
    with transaction(session):
        link, course_id = _placement(session, actor, link_id)
        assignments = list(session.execute(
            select(Assignment).where(Assignment.course_id == course_id)
            .order_by(Assignment.id)).scalars())
        return LinkChoices(link, course_id, assignments,
                           exercises.visible_exercises(session, actor))


def link_placement(session: Session, actor: Caller, link_id: int, assignment: str | None,
                   exercise: str | None) -> int:
    """Link a placement to one of its course's assignments, or to a new assignment of
    an exercise (default settings); the assignment's id (ValidationFailed when neither
    names anything)."""
    with transaction(session):
        link, course_id = _placement(session, actor, link_id)
        seen = link.assignment_id
    made = False
    if assignment:
        with transaction(session):
            found = session.get(Assignment, number) if (
                number := row_id(assignment)) is not None else None
            if found is None or found.course_id != course_id:
                raise ValidationFailed(_("choose an assignment of this course"),
                                       errors=[{"pointer": "/assignment",
                                                "detail": _("not an assignment of the "
                                                            "course")}])
            chosen = found.id
    elif exercise:
        chosen = courses.create_assignment(session, actor, course_id, exercise, None, None,
                                           None, False).id
        made = True
    else:
        raise ValidationFailed(_("choose an assignment or an exercise"))
    # Linked only if nobody linked the placement meanwhile: of forms sent at once, the
    # first link stands and the assignments the others made (nobody has seen them yet)
    # are deleted.
    with transaction(session):
        linked = session.execute(
            update(LtiResourceLink)
            .where(LtiResourceLink.id == link.id,
                   LtiResourceLink.assignment_id.is_(None) if seen is None
                   else LtiResourceLink.assignment_id == seen)
            .values(assignment_id=chosen).returning(LtiResourceLink.id)).scalar_one_or_none()
        if linked is not None:
            return chosen
        if made:
            session.execute(delete(Assignment).where(Assignment.id == chosen))
        winner = session.get_one(LtiResourceLink, link.id, populate_existing=True)
        return winner.assignment_id or chosen
