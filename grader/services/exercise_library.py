"""The exercise library as instructors manage it: every exercise with its latest
version and who may change it, the text of its latest version, and storing a text
sent from a page (the same rules as `put_exercise`: instructors; the owner or an
admin for an existing exercise)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import ExerciseError
from grader.i18n import gettext as _
from grader.models import ExerciseRecord, ExerciseVersion, Role, User
from grader.services.accounts import Caller, require_role
from grader.services.errors import InvalidExercise
from grader.services.exercises import (
    StoredVersion,
    latest_version,
    parse_exercise_text,
    put_exercise,
    title_in,
    yaml_errors,
)
from grader.services.visibility import assigned_in_taught_courses, check_may_read


@dataclass(frozen=True)
class LibraryEntry:
    exercise_id: str
    title: str
    version: int
    practice: bool
    owner: str | None  # None: bundled with the service
    changed_at: datetime
    editable: bool  # by the caller
    # Whether the caller may read it (its text, previews, solutions) and assign it:
    # always when it is open to practice (`grader.services.visibility`).
    readable: bool = True


def library(session: Session, actor: Caller, language: str = "en") -> list[LibraryEntry]:
    """Every exercise's latest version (instructors and admins), each saying whether
    the caller may read it; titles in `language` where the spec has it."""
    require_role(actor, Role.INSTRUCTOR)
    rows = session.execute(
        select(ExerciseVersion, ExerciseRecord.owner_id, User.username)
        .join(ExerciseRecord, ExerciseRecord.id == ExerciseVersion.exercise_id)
        .outerjoin(User, User.id == ExerciseRecord.owner_id)
        .where(ExerciseVersion.number == ExerciseRecord.latest_version)
        .order_by(ExerciseVersion.exercise_id)
    ).all()
    assigned = assigned_in_taught_courses(session, actor)
    return [LibraryEntry(version.exercise_id, title_in(version, language), version.number,
                         version.practice,
                         owner, version.created_at, may_edit(actor, owner_id),
                         version.practice or may_edit(actor, owner_id)
                         or version.exercise_id in assigned)
            for version, owner_id, owner in rows]


def may_edit(actor: Caller, owner_id: int | None) -> bool:
    return actor.role is Role.ADMIN or (actor.role is Role.INSTRUCTOR and owner_id == actor.id)


@dataclass(frozen=True)
class ExerciseSource:
    exercise_id: str
    title: str
    version: int
    text: str
    editable: bool


def exercise_source(session: Session, actor: Caller, exercise_id: str) -> ExerciseSource:
    """The YAML text of an exercise's latest version (instructors; NotFound; Forbidden
    for an exercise closed to practice the caller may not read)."""
    require_role(actor, Role.INSTRUCTOR)
    version = latest_version(session, exercise_id)
    check_may_read(session, actor, version)
    record = session.get_one(ExerciseRecord, exercise_id)
    return ExerciseSource(version.exercise_id, version.title, version.number,
                          version.yaml_text, may_edit(actor, record.owner_id))


def store_text(session: Session, actor: Caller, yaml_text: str, max_bytes: int,
               exercise_id: str | None = None) -> StoredVersion:
    """Store an exercise's text as a new version: of `exercise_id` (whose id the text
    must keep), or of the id the text declares. InvalidExercise locates each problem
    (file, line, node, field); Forbidden when the caller may not change it."""
    require_role(actor, Role.INSTRUCTOR)
    if exercise_id is None:
        try:
            exercise_id = parse_exercise_text(yaml_text, max_bytes=max_bytes).id
        except ExerciseError as exc:
            raise InvalidExercise(_("the exercise does not validate"),
                                  errors=yaml_errors(exc)) from None
    return put_exercise(session, actor, exercise_id, yaml_text, max_bytes)
