"""The exercise bank: parsing and storing versions, the bundled folder, what a caller
may practise. Parsed specs are cached by content hash (a version never changes)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Exercise, ExerciseError, draw_variant, parse_exercise
from grader.i18n import gettext as _
from grader.i18n import mark, problem_message
from grader.models import ExerciseRecord, ExerciseVersion, Role
from grader.services.accounts import Caller, require_role
from grader.services.errors import Forbidden, InvalidExercise, NotFound, quoted_name
from grader.services.transactions import transaction

logger = logging.getLogger(__name__)

CONCURRENT_CHANGE = mark("the exercise was changed at the same time; retry")


class SpecCache:
    """Parsed exercises by content hash. Versions never change, so an entry never goes
    stale; the bound only limits memory."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[str, Exercise] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, content_hash: str) -> Exercise | None:
        with self._lock:
            exercise = self._items.get(content_hash)
            if exercise is not None:
                self._items.move_to_end(content_hash)
            return exercise

    def put(self, content_hash: str, exercise: Exercise) -> None:
        with self._lock:
            self._items[content_hash] = exercise
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_specs = SpecCache()


def parse_exercise_text(text: str, max_bytes: int | None) -> Exercise:
    """Validate YAML text into an exercise whose `text` is what must be stored."""
    return parse_exercise(text, max_bytes=max_bytes)


def exercise_of_version(version: ExerciseVersion) -> Exercise:
    """The parsed spec of a stored version (its text is loaded only on a cache miss)."""
    return parsed(version.content_hash, lambda: version.yaml_text)


def title_in(version: ExerciseVersion, language: str) -> str:
    """A version's title for a reader of `language` ("pt-BR"): its translation, if the
    spec has one, else the stored title."""
    return exercise_of_version(version).text_in(language)[0]


def parsed(content_hash: str, load_text: Callable[[], str]) -> Exercise:
    """The spec with this content hash, parsed from `load_text()` on a cache miss."""
    cached = _specs.get(content_hash)
    if cached is not None:
        return cached
    exercise = parse_exercise_text(load_text(), max_bytes=None)
    _specs.put(content_hash, exercise)
    return exercise


@dataclass(frozen=True)
class StoredVersion:
    version: ExerciseVersion
    created_exercise: bool  # the id was new
    created_version: bool  # False when the same text was already stored


def store_exercise(session: Session, exercise: Exercise, owner: Caller | None) -> StoredVersion:
    """Store an exercise as a new version, unless a version with the same content
    exists (Conflict when another upload of it wins the race for the number)."""
    with transaction(session, conflict=_(CONCURRENT_CHANGE)):
        stored = _add_version(session, exercise, owner)
    _specs.put(exercise.content_hash, exercise)
    return stored


def put_exercise(
    session: Session, actor: Caller, exercise_id: str, yaml_text: str, max_bytes: int
) -> StoredVersion:
    """Create an exercise or add a version (instructors; the owner or an admin)."""
    require_role(actor, Role.INSTRUCTOR)
    try:
        exercise = parse_exercise_text(yaml_text, max_bytes=max_bytes)
    except ExerciseError as exc:
        raise InvalidExercise(_("the exercise does not validate"),
                              errors=yaml_errors(exc)) from None
    if exercise.id != exercise_id:
        raise InvalidExercise(
            _("the document's id {document_id} is not the id in the URL {url_id}").format(
                document_id=quoted_name(exercise.id), url_id=quoted_name(exercise_id)),
            errors=[{"detail": _("must equal the id in the URL"), "field": "id", "line": None,
                     "node": None, "file": exercise.source}],
        )
    with transaction(session, conflict=_(CONCURRENT_CHANGE)):
        record = session.get(ExerciseRecord, exercise_id)
        if record is not None and actor.role is not Role.ADMIN and record.owner_id != actor.id:
            raise Forbidden(_("only the exercise's owner or an admin may change it"))
        stored = _add_version(session, exercise, actor)
    _specs.put(exercise.content_hash, exercise)
    return stored


def _add_version(session: Session, exercise: Exercise, owner: Caller | None) -> StoredVersion:
    _check_storable_text(exercise)
    _check_draws(exercise)
    record = session.get(ExerciseRecord, exercise.id, with_for_update=True)
    if record is not None:
        same = session.execute(
            select(ExerciseVersion).where(
                ExerciseVersion.exercise_id == exercise.id,
                ExerciseVersion.content_hash == exercise.content_hash,
            )
        ).scalar_one_or_none()
        if same is not None:
            return StoredVersion(same, created_exercise=False, created_version=False)
        record.latest_version += 1
        number = record.latest_version
    else:
        record = ExerciseRecord(id=exercise.id, owner_id=owner.id if owner else None)
        session.add(record)
        number = 1
    version = ExerciseVersion(
        exercise_id=exercise.id,
        number=number,
        yaml_text=exercise.text,
        content_hash=exercise.content_hash,
        title=exercise.title,
        practice=exercise.practice,
        created_by=owner.id if owner else None,
    )
    session.add(version)
    session.flush()
    return StoredVersion(version, created_exercise=number == 1, created_version=True)


def _check_storable_text(exercise: Exercise) -> None:
    """Every text of an exercise that goes into a column holds no NUL, which
    PostgreSQL refuses in text (the engine's own checks come first; this one makes sure
    nothing it lets through turns into a database error)."""
    for field, value in (("id", exercise.id), ("title", exercise.title),
                         ("text", exercise.text)):
        if "\x00" in value:
            raise InvalidExercise(_("the exercise does not validate"), errors=[{
                "detail": _("must not contain a NUL character (U+0000)"), "field": field,
                "line": None, "node": None, "file": exercise.source}])


def _check_draws(exercise: Exercise) -> None:
    """An exercise whose variant cannot be drawn (a domain error on its fixed inputs,
    every draw on a kink) is rejected with the engine's located problems."""
    try:
        draw_variant(exercise, None)
    except ExerciseError as exc:
        raise InvalidExercise(
            _("the exercise cannot be evaluated"), errors=yaml_errors(exc)
        ) from None


def yaml_errors(exc: ExerciseError) -> list[dict[str, Any]]:
    errors = []
    for problem in exc.problems:
        error: dict[str, Any] = {"detail": problem_message(problem)}
        error.update({k: v for k, v in problem.as_dict().items() if k != "message"})
        errors.append(error)
    return errors


@dataclass(frozen=True)
class BundleReport:
    added: list[str]
    unchanged: list[str]
    invalid: list[str]


def load_exercise_folder(session: Session, folder: Path, max_bytes: int | None) -> BundleReport:
    """Store every exercise file of a folder whose content is not stored yet, each file
    on its own: a bad file is reported and skipped."""
    report = BundleReport([], [], [])
    for path in sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml")):
        try:
            exercise = parse_exercise_text(path.read_text(encoding="utf-8"), max_bytes)
            stored = store_exercise(session, exercise, owner=None)
        except (ExerciseError, InvalidExercise, OSError, UnicodeDecodeError) as exc:
            logger.warning("skipping exercise file %s: %s", path, exc)
            report.invalid.append(str(path))
            continue
        target = report.added if stored.created_version else report.unchanged
        target.append(f"{exercise.id} v{stored.version.number}")
    return report


def latest_version(session: Session, exercise_id: str) -> ExerciseVersion:
    version = session.execute(
        select(ExerciseVersion)
        .join(ExerciseRecord, ExerciseRecord.id == ExerciseVersion.exercise_id)
        .where(
            ExerciseVersion.exercise_id == exercise_id,
            ExerciseVersion.number == ExerciseRecord.latest_version,
        )
    ).scalar_one_or_none()
    if version is None:
        raise NotFound(_("no exercise {id}").format(id=quoted_name(exercise_id)))
    return version


def visible_exercises(session: Session, actor: Caller) -> list[ExerciseVersion]:
    """The latest version of every exercise the user may practise (staff: all)."""
    query = (
        select(ExerciseVersion)
        .join(ExerciseRecord, ExerciseRecord.id == ExerciseVersion.exercise_id)
        .where(ExerciseVersion.number == ExerciseRecord.latest_version)
        .order_by(ExerciseVersion.exercise_id)
    )
    if not actor.is_staff:
        query = query.where(ExerciseVersion.practice.is_(True))
    return list(session.execute(query).scalars())
