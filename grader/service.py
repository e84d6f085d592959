"""Use cases between the HTTP layer and the database.

Each function takes the session and the acting user, checks access (raising the
problem types of `grader.problems`), does its work and commits. None of them touches
the request: the API and the command line call the same functions.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import Row, and_, bindparam, exists, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, lazyload

from engine import (
    Exercise,
    ExerciseError,
    Solution,
    Variant,
    draw_variant,
    parse_exercise,
    solve,
)
from grader.auth import TOKEN_OWNER, Preload, is_staff, issue_token, preloaded, require_role
from grader.db import JsonText, commits_as_it_goes
from grader.models import (
    Assignment,
    Attempt,
    Course,
    CourseRole,
    Enrollment,
    ExerciseRecord,
    ExerciseVersion,
    Role,
    User,
    VariantRecord,
    utcnow,
)
from grader.precompiled import Precompiled
from grader.problems import (
    AssignmentClosed,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InvalidExercise,
    NoAttemptsLeft,
    NotEnrolled,
    NotFound,
    ValidationFailed,
    VariantAlreadyAnswered,
    json_pointer,
)
from grader.scoring import BlankResult, GradeResult, SubmissionError, grade, parse_submission

logger = logging.getLogger(__name__)

SEED_LIMIT = 2**31  # seeds are stored in a 32-bit column
SEED_TRIES = 10  # seeds tried when a drawn seed hits an authoring problem
INSERT_RETRIES = 20  # numbering races lost on SQLite before giving up


# ---------------------------------------------------------------- parsed exercise cache


class _SpecCache:
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


_specs = _SpecCache()


def parse_exercise_text(text: str, max_bytes: int | None) -> Exercise:
    """Validate YAML text into an exercise whose `text` is what must be stored."""
    return parse_exercise(text, max_bytes=max_bytes)


def exercise_of(version: ExerciseVersion | VersionRow) -> Exercise:
    """The parsed spec of a stored version (its text is loaded only on a cache miss)."""
    if isinstance(version, VersionRow):
        return version.exercise
    return _parsed(version.content_hash, lambda: version.yaml_text)


def _parsed(content_hash: str, load_text: Callable[[], str]) -> Exercise:
    cached = _specs.get(content_hash)
    if cached is not None:
        return cached
    exercise = parse_exercise_text(load_text(), max_bytes=None)
    _specs.put(content_hash, exercise)
    return exercise


# ---------------------------------------------------------------- rows of the submit path
#
# Submitting is the hot path (benchmarks/submit_load.py). It reads what it needs as
# plain rows, with only the columns it uses, on the session's connection: the ORM's
# per-statement and per-object work was a good part of a submission's Python time.
# Elsewhere the ORM objects are used; these rows have the same attribute names, so
# helpers take either.


@dataclass(frozen=True, slots=True)
class VersionRow:
    """An exercise version as the submit path reads it, with its parsed spec."""

    id: int
    exercise_id: str
    number: int
    content_hash: str
    practice: bool
    exercise: Exercise


@dataclass(frozen=True, slots=True)
class VariantRow:
    """A variant as the submit path reads it."""

    id: int
    number: int
    seed: int | None
    inputs: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class AssignmentRow:
    """An assignment as the submit path reads it, with its pinned version."""

    id: int
    max_attempts: int | None
    opens_at: datetime | None
    due_at: datetime | None
    new_variant_each_attempt: bool
    exercise_version: VersionRow


VersionLike = ExerciseVersion | VersionRow
VariantLike = VariantRecord | VariantRow
AssignmentLike = Assignment | AssignmentRow

# The columns of a version and of a variant, labelled for `_version_row`/`_variant_row`.
_VERSION_COLUMNS = (
    ExerciseVersion.id.label("version_id"), ExerciseVersion.exercise_id,
    ExerciseVersion.number.label("version_number"), ExerciseVersion.content_hash,
    ExerciseVersion.practice,
)
_VARIANT_COLUMNS = (
    VariantRecord.id.label("variant_id"), VariantRecord.number.label("variant_number"),
    VariantRecord.seed, VariantRecord.inputs,
)


def _version_row(session: Session, row: Row[Any]) -> VersionRow:
    def load_text() -> str:
        return session.connection().execute(
            select(ExerciseVersion.yaml_text).where(ExerciseVersion.id == row.version_id)
        ).scalar_one()

    return VersionRow(row.version_id, row.exercise_id, row.version_number, row.content_hash,
                      row.practice, _parsed(row.content_hash, load_text))


def _variant_row(row: Row[Any]) -> VariantRow | None:
    if row.variant_id is None:  # the outer join found none
        return None
    return VariantRow(row.variant_id, row.variant_number, row.seed, row.inputs)


# ---------------------------------------------------------------- users and tokens


def _commit_or_conflict(session: Session, message: str) -> None:
    """Commit; a unique constraint the commit breaks is a 409 with `message`."""
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(message) from None


def create_user(session: Session, username: str, role: Role) -> User:
    """A new account (409 when the username is taken)."""
    user = User(username=username, role=role)
    session.add(user)
    _commit_or_conflict(session, f"user {username!r} already exists")
    return user


def create_token(session: Session, username: str, label: str = "") -> str:
    """A new API token for a user, returned once in clear."""
    user = user_named(session, username)
    token = issue_token(session, user, label)
    session.commit()
    return token


def user_named(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


# ---------------------------------------------------------------- exercises


@dataclass(frozen=True)
class StoredVersion:
    version: ExerciseVersion
    created_exercise: bool  # the id was new
    created_version: bool  # False when the same text was already stored


def store_exercise(session: Session, exercise: Exercise, owner: User | None) -> StoredVersion:
    """Store an exercise as a new version, unless a version with the same content
    exists. Commits."""
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
            session.rollback()
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
    # A conflict: another upload of the same exercise won the race for this number.
    _commit_or_conflict(session, "the exercise was changed at the same time; retry")
    _specs.put(exercise.content_hash, exercise)
    return StoredVersion(version, created_exercise=number == 1, created_version=True)


def _check_storable_text(exercise: Exercise) -> None:
    """Every text of an exercise that goes into a column holds no NUL, which
    PostgreSQL refuses in text (the engine's own checks come first; this one makes sure
    nothing it lets through turns into a database error)."""
    for field, value in (("id", exercise.id), ("title", exercise.title),
                         ("text", exercise.text)):
        if "\x00" in value:
            raise InvalidExercise("the exercise does not validate", errors=[{
                "detail": "must not contain a NUL character (U+0000)", "field": field,
                "line": None, "node": None, "file": exercise.source}])


def _check_draws(exercise: Exercise) -> None:
    """An exercise whose variant cannot be drawn (a domain error on its fixed inputs,
    every draw on a kink) is rejected with the engine's located problems."""
    try:
        draw_variant(exercise, None)
    except ExerciseError as exc:
        raise InvalidExercise(
            "the exercise cannot be evaluated", errors=yaml_errors(exc)
        ) from None


def yaml_errors(exc: ExerciseError) -> list[dict[str, Any]]:
    errors = []
    for problem in exc.problems:
        error: dict[str, Any] = {"detail": problem.message}
        error.update({k: v for k, v in problem.as_dict().items() if k != "message"})
        errors.append(error)
    return errors


def put_exercise(
    session: Session, actor: User, exercise_id: str, yaml_text: str, max_bytes: int
) -> StoredVersion:
    """Create an exercise or add a version (instructors; the owner or an admin)."""
    require_role(actor, Role.INSTRUCTOR)
    try:
        exercise = parse_exercise_text(yaml_text, max_bytes=max_bytes)
    except ExerciseError as exc:
        raise InvalidExercise("the exercise does not validate", errors=yaml_errors(exc)) from None
    if exercise.id != exercise_id:
        raise InvalidExercise(
            f"the document's id {exercise.id!r} is not the id in the URL {exercise_id!r}",
            errors=[{"detail": "must equal the id in the URL", "field": "id", "line": None,
                     "node": None, "file": exercise.source}],
        )
    record = session.get(ExerciseRecord, exercise_id)
    if record is not None and actor.role is not Role.ADMIN and record.owner_id != actor.id:
        raise Forbidden("only the exercise's owner or an admin may change it")
    return store_exercise(session, exercise, actor)


@dataclass(frozen=True)
class BundleReport:
    added: list[str]
    unchanged: list[str]
    invalid: list[str]


def load_exercise_folder(session: Session, folder: Path, max_bytes: int | None) -> BundleReport:
    """Store every exercise file of a folder whose content is not stored yet."""
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
        raise NotFound(f"no exercise {exercise_id!r}")
    return version


def visible_exercises(session: Session, actor: User) -> list[ExerciseVersion]:
    """The latest version of every exercise the user may practise (staff: all)."""
    query = (
        select(ExerciseVersion)
        .join(ExerciseRecord, ExerciseRecord.id == ExerciseVersion.exercise_id)
        .where(ExerciseVersion.number == ExerciseRecord.latest_version)
        .order_by(ExerciseVersion.exercise_id)
    )
    if not is_staff(actor):
        query = query.where(ExerciseVersion.practice.is_(True))
    return list(session.execute(query).scalars())


# ---------------------------------------------------------------- variants


def as_engine_variant(exercise: Exercise, record: VariantLike) -> Variant:
    """The variant with the numbers the user was given (stored, not redrawn: a later
    engine release must not change a student's numbers)."""
    return Variant(exercise, record.seed, dict(record.inputs))


def _draw(exercise: Exercise) -> Variant:
    if not exercise.randomized:
        return draw_variant(exercise, None)
    for _ in range(SEED_TRIES):
        try:
            return draw_variant(exercise, secrets.randbelow(SEED_LIMIT))
        except ExerciseError:  # an unlucky seed of a fragile exercise: try another
            continue
    raise Conflict(f"no variant of {exercise.id!r} could be drawn; its author must widen "
                   "the input ranges (see `grader check`)")


def _latest_variant(
    session: Session, user: User, version: VersionLike, assignment: AssignmentLike | None
) -> VariantRecord | None:
    query = select(VariantRecord).where(
        VariantRecord.user_id == user.id,
        VariantRecord.exercise_version_id == version.id,
    )
    if assignment is None:
        query = query.where(VariantRecord.assignment_id.is_(None))
    else:
        query = query.where(VariantRecord.assignment_id == assignment.id)
    return session.execute(
        query.order_by(VariantRecord.number.desc()).limit(1)
    ).scalar_one_or_none()


def _new_variant(
    session: Session, user: User, version: VersionLike, assignment: AssignmentLike | None,
    number: int,
) -> VariantRecord:
    """Insert variant `number`, or return the one a concurrent request inserted."""
    drawn = _draw(exercise_of(version))
    record = VariantRecord(
        user_id=user.id, exercise_version_id=version.id,
        assignment_id=assignment.id if assignment else None,
        number=number, seed=drawn.seed, inputs=dict(drawn.inputs),
    )
    session.add(record)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = _latest_variant(session, user, version, assignment)
        if existing is None:
            raise
        return existing
    return record


def current_variant(
    session: Session, user: User, version: ExerciseVersion, assignment: Assignment | None = None
) -> VariantRecord:
    """The variant the user answers now: the latest one, or a first one drawn now.
    With a fresh variant per attempt, an answered variant is followed by a new one."""
    latest = _latest_variant(session, user, version, assignment)
    if latest is None:
        return _new_variant(session, user, version, assignment, 1)
    if assignment is not None and assignment.new_variant_each_attempt and _was_answered(
        session, latest
    ):
        return _new_variant(session, user, version, assignment, latest.number + 1)
    return latest


def new_practice_variant(
    session: Session, actor: User, exercise_id: str
) -> tuple[VersionRow, VariantRecord]:
    """A fresh practice variant on request (404, 403)."""
    version, latest = _practice_target(session, actor, exercise_id)
    number = latest.number + 1 if latest else 1
    return version, _new_variant(session, actor, version, None, number)


def _was_answered(session: Session, variant: VariantRecord) -> bool:
    # user and assignment first: the (user, assignment, number) index finds the rows.
    return session.execute(
        select(Attempt.id).where(Attempt.user_id == variant.user_id,
                                 Attempt.assignment_id == variant.assignment_id,
                                 Attempt.variant_id == variant.id).limit(1)
    ).first() is not None


# ---------------------------------------------------------------- attempts


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """A stored attempt as the API shows it (built from the insert's own values on the
    submit path: no ORM object is loaded or made there)."""

    id: int
    number: int
    result: Mapping[str, Any] | None  # None where `result_json` holds it
    exercise_id: str
    version: int
    variant: int
    assignment_id: int | None
    created_at: datetime
    # The result as the JSON text stored, where the submit path has it at hand.
    result_json: str | None = None

    def result_data(self) -> Mapping[str, Any]:
        if self.result is not None:
            return self.result
        assert self.result_json is not None
        loaded: Mapping[str, Any] = json.loads(self.result_json)
        return loaded

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptRecord:
        return cls(attempt.id, attempt.number, attempt.result, attempt.exercise_id,
                   attempt.exercise_version.number, attempt.variant.number,
                   attempt.assignment_id, attempt.created_at)


@dataclass(frozen=True)
class AttemptOutcome:
    attempt: AttemptRecord
    attempts_left: int | None
    replayed: bool  # True when an Idempotency-Key retry returned a stored attempt


def request_fingerprint(kind: str, target: str | int, body: Any, key: str | None) -> str | None:
    """What tells a retry (same key, same request) from a reuse of its key: only
    computed, and stored, when there is a key."""
    if key is None:
        return None
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(f"{kind}:{target}:{canonical}".encode()).hexdigest()


def _replay(
    session: Session, user: User, key: str | None, fingerprint: str | None,
    max_attempts: int | None,
) -> AttemptOutcome | None:
    if key is None:
        return None
    stored = session.execute(
        select(Attempt).where(Attempt.user_id == user.id, Attempt.idempotency_key == key)
    ).scalar_one_or_none()
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for a different request",
            errors=[{"header": "Idempotency-Key", "detail": "already used for another request"}],
        )
    return AttemptOutcome(AttemptRecord.of(stored), attempts_left(max_attempts, stored.number),
                          replayed=True)


def attempts_left(max_attempts: int | None, used: int) -> int | None:
    return None if max_attempts is None else max(max_attempts - used, 0)


def _next_attempt_number(
    session: Session, user: User, exercise_id: str, assignment: AssignmentLike | None
) -> int:
    return int(session.execute(
        select(func.coalesce(func.max(Attempt.number), 0)).where(
            *_attempt_scope(user.id, exercise_id, assignment))
    ).scalar_one()) + 1


def _attempt_scope(user_id: int, exercise_id: str,
                   assignment: AssignmentLike | None) -> list[Any]:
    """The attempts numbered together: a user's at one assignment, or their practice
    attempts at one exercise."""
    if assignment is None:
        return [Attempt.user_id == user_id, Attempt.assignment_id.is_(None),
                Attempt.exercise_id == exercise_id]
    return [Attempt.user_id == user_id, Attempt.assignment_id == assignment.id]


_ATTEMPT_VALUES = ("user_id", "exercise_id", "exercise_version_id", "variant_id",
                   "assignment_id", "answers", "result", "score", "idempotency_key",
                   "request_hash", "created_at")


@functools.cache
def _numbered_insert(practice: bool, limited: bool, fresh_variant: bool) -> Precompiled:
    """INSERT ... SELECT that numbers an attempt one past the last of its scope, and
    inserts nothing when the limit is reached (or, with a fresh variant per attempt,
    when the variant was answered). Built once per shape: this is the submit path."""
    table = Attempt.__table__
    scope = [table.c.user_id == bindparam("user_id")]
    if practice:
        scope += [table.c.assignment_id.is_(None),
                  table.c.exercise_id == bindparam("exercise_id")]
    else:
        scope.append(table.c.assignment_id == bindparam("assignment_id"))
    used = select(func.coalesce(func.max(table.c.number), 0).label("used")).where(
        *scope).subquery()
    row = select(
        *(bindparam(name, type_=table.c[name].type) for name in _ATTEMPT_VALUES),
        (used.c.used + 1).label("number"),
    ).select_from(used)
    if limited:
        row = row.where(used.c.used < bindparam("max_attempts"))
    if fresh_variant:
        # Within the user's attempts at the assignment: found through the unique
        # (user, assignment, number) index, not a scan of every attempt.
        row = row.where(~exists().where(*scope, table.c.variant_id == bindparam("variant_id")))
    return Precompiled(insert(table).from_select([*_ATTEMPT_VALUES, "number"], row)
                       .returning(table.c.id, table.c.number))


def _insert_numbered(
    session: Session, values: dict[str, Any], assignment: AssignmentLike | None
) -> tuple[int, int] | None:
    """Insert an attempt numbered one past the last, in one statement that also checks
    the limit (and, with a fresh variant per attempt, that the variant is unanswered).

    Returns (id, number), or None when the checks refuse. Two requests that read the
    same last number collide on the unique (user, assignment, number) constraint, so
    the limit holds however many arrive at once: the loser sees IntegrityError and
    counts again. No lock is held while grading, and none at all on the happy path.
    """
    limit = assignment.max_attempts if assignment is not None else None
    statement = _numbered_insert(
        practice=assignment is None,
        limited=limit is not None,
        fresh_variant=assignment is not None and assignment.new_variant_each_attempt,
    )
    # On the session's connection: no ORM bookkeeping for a row nobody loads.
    inserted = statement.first(session.connection(), {**values, "max_attempts": limit})
    return None if inserted is None else (inserted.id, inserted.number)


def _store_attempt(
    session: Session,
    user: User,
    version: VersionLike,
    variant: VariantLike,
    assignment: AssignmentLike | None,
    answers: Mapping[str, Any],
    result: GradeResult,
    key: str | None,
    fingerprint: str | None,
) -> AttemptOutcome:
    """Store a graded attempt under the attempt limit and commit."""
    max_attempts = assignment.max_attempts if assignment else None
    values = {
        "user_id": user.id, "exercise_id": version.exercise_id,
        "exercise_version_id": version.id, "variant_id": variant.id,
        "assignment_id": assignment.id if assignment else None,
        "answers": dict(answers), "result": JsonText(result.as_json()), "score": result.score,
        "idempotency_key": key, "request_hash": fingerprint, "created_at": utcnow(),
    }
    for _ in range(INSERT_RETRIES):
        try:
            inserted = _insert_numbered(session, values, assignment)
            if not commits_as_it_goes(session):
                session.commit()
        except IntegrityError:
            session.rollback()
            replayed = _replay(session, user, key, fingerprint, max_attempts)
            if replayed is not None:  # a concurrent retry with the same key stored it
                return replayed
            continue  # another attempt took this number: count again
        if inserted is None:
            _refusal(session, user, version, variant, assignment)
        attempt_id, number = inserted  # type: ignore[misc]
        attempt = AttemptRecord(attempt_id, number, None, version.exercise_id, version.number,
                                variant.number, values["assignment_id"], values["created_at"],
                                values["result"])
        return AttemptOutcome(attempt, attempts_left(max_attempts, number), replayed=False)
    raise Conflict("too many simultaneous attempts; retry")


def _refusal(
    session: Session, user: User, version: VersionLike, variant: VariantLike,
    assignment: AssignmentLike | None,
) -> NoReturn:
    """Why an attempt was refused: the limit, or an answered variant."""
    assert assignment is not None  # practice attempts are never refused
    used = _next_attempt_number(session, user, version.exercise_id, assignment) - 1
    if assignment.max_attempts is not None and used >= assignment.max_attempts:
        raise NoAttemptsLeft(f"all {assignment.max_attempts} attempts have been used")
    raise VariantAlreadyAnswered(
        "this variant has been answered; fetch the assignment for your new variant"
    )


def _grade(exercise: Exercise, variant: VariantLike, answers: Any) -> GradeResult:
    """The scoring core's result for a submission. A submission that does not fit the
    exercise, or holds a blank that is not a number, is answered 422: nothing is
    graded or stored, and no attempt is used."""
    try:
        submission = parse_submission(answers, exercise)
    except SubmissionError as exc:
        raise ValidationFailed(
            "the submission does not fit the exercise", errors=[e.as_dict() for e in exc.errors]
        ) from None
    result = grade(solve(as_engine_variant(exercise, variant)), submission)
    if result.has_format_errors:
        raise ValidationFailed(
            result.summary(),
            errors=[{"pointer": json_pointer(_blank_location(b)), "detail": b.message}
                    for b in result.format_errors],
        )
    return result


def _blank_location(blank: BlankResult) -> tuple[str, ...]:
    return (blank.kind, blank.node) if blank.input is None else (
        blank.kind, blank.node, blank.input)


def _practice_target(
    session: Session, actor: User, exercise_id: str
) -> tuple[VersionRow, VariantRow | None]:
    """The latest version of an exercise the user may practise, with the user's
    latest practice variant of it (one query: this is the submit path)."""
    row = preloaded(session, ("practice", exercise_id), actor)
    if row is None:
        row = session.connection().execute(_PRACTICE_TARGET, {"exercise_id": exercise_id,
                                                              "user_id": actor.id}).first()
    if row is None or row.version_id is None:
        raise NotFound(f"no exercise {exercise_id!r}")
    if not row.practice and not is_staff(actor):
        raise Forbidden(f"exercise {exercise_id!r} is not open for practice")
    return _version_row(session, row), _variant_row(row)


_PRACTICE_TARGET = (
    select(*_VERSION_COLUMNS, *_VARIANT_COLUMNS)
    .join(ExerciseRecord, and_(ExerciseRecord.id == ExerciseVersion.exercise_id,
                               ExerciseRecord.latest_version == ExerciseVersion.number))
    .outerjoin(VariantRecord, and_(VariantRecord.exercise_version_id == ExerciseVersion.id,
                                   VariantRecord.user_id == bindparam("user_id"),
                                   VariantRecord.assignment_id.is_(None)))
    .where(ExerciseVersion.exercise_id == bindparam("exercise_id"))
    .order_by(VariantRecord.number.desc())
    .limit(1)
)

# The same, read with the token's owner in the request's first statement (`Preload`):
# outer joins, so an unknown exercise leaves the owner's row with empty columns.
_PRACTICE_SUBMIT = Precompiled(
    TOKEN_OWNER.add_columns(*_VERSION_COLUMNS, *_VARIANT_COLUMNS)
    .outerjoin(ExerciseRecord, ExerciseRecord.id == bindparam("exercise_id"))
    .outerjoin(ExerciseVersion, and_(ExerciseVersion.exercise_id == ExerciseRecord.id,
                                     ExerciseVersion.number == ExerciseRecord.latest_version))
    .outerjoin(VariantRecord, and_(VariantRecord.exercise_version_id == ExerciseVersion.id,
                                   VariantRecord.user_id == User.id,
                                   VariantRecord.assignment_id.is_(None)))
    .order_by(VariantRecord.number.desc())
    .limit(1)
)


def practice_submit_preload(path: Mapping[str, Any]) -> Preload:
    """Authentication that also reads `_practice_target`'s row (the submit path)."""
    exercise_id = path["exercise_id"]
    return _PRACTICE_SUBMIT, {"exercise_id": exercise_id}, ("practice", exercise_id)


def practice_variant(
    session: Session, actor: User, exercise_id: str
) -> tuple[VersionRow, VariantLike]:
    """The user's practice variant of an exercise, drawn on first visit (404, 403)."""
    version, variant = _practice_target(session, actor, exercise_id)
    return version, variant or _new_variant(session, actor, version, None, 1)


def submit_practice(
    session: Session, actor: User, exercise_id: str, answers: Any, key: str | None
) -> AttemptOutcome:
    """Grade and store a practice attempt (unlimited, not part of any course)."""
    fingerprint = request_fingerprint("practice", exercise_id, answers, key)
    replayed = _replay(session, actor, key, fingerprint, None)
    if replayed is not None:
        return replayed
    version, variant = practice_variant(session, actor, exercise_id)
    result = _grade(version.exercise, variant, answers)
    return _store_attempt(session, actor, version, variant, None, answers, result, key,
                          fingerprint)


def practice_attempts(
    session: Session, actor: User, exercise_id: str, username: str | None = None
) -> list[AttemptRecord]:
    """A user's practice attempts at an exercise; another user's only as
    `visible_user` allows (403)."""
    user = actor if username is None else visible_user(session, actor, username)
    latest_version(session, exercise_id)  # 404 for an unknown exercise
    return [AttemptRecord.of(a) for a in session.execute(
        select(Attempt)
        .where(Attempt.user_id == user.id, Attempt.exercise_id == exercise_id,
               Attempt.assignment_id.is_(None))
        .order_by(Attempt.number)
    ).scalars()]


def visible_user(session: Session, actor: User, username: str) -> User:
    """A user whose work the actor may see: oneself; for admins, anyone (404 when
    there is no such user); for instructors, a user enrolled in a course they teach.

    Raises Forbidden (403) otherwise, the same whether or not the user exists, so the
    answer tells nobody which usernames there are.
    """
    if username == actor.username:
        return actor
    if actor.role is Role.ADMIN:
        return user_named(session, username)
    if actor.role is Role.INSTRUCTOR:
        user = session.execute(_STUDENT_OF, {"username": username, "actor_id": actor.id}).scalar()
        if user is not None:
            return user
        raise Forbidden(f"{username!r} is not enrolled in a course you teach")
    raise Forbidden("only instructors may see another user's work")


_taught, _theirs = aliased(Enrollment), aliased(Enrollment)
_STUDENT_OF = (
    select(User)
    .join(_theirs, _theirs.user_id == User.id)
    .join(_taught, and_(_taught.course_id == _theirs.course_id,
                        _taught.user_id == bindparam("actor_id"),
                        _taught.role == CourseRole.INSTRUCTOR))
    .where(User.username == bindparam("username"))
    .limit(1)
)


@dataclass(frozen=True)
class SolutionView:
    """A worked solution, with the variant it is of when it is a user's."""

    version: ExerciseVersion
    solution: Solution
    variant: VariantRecord | None = None
    assignment_id: int | None = None


def exercise_solution(
    session: Session, actor: User, exercise_id: str, username: str | None, seed: int | None,
    assignment_id: int | None = None,
) -> SolutionView:
    """The reference solution of a variant (instructors): of a user's variant in an
    assignment; of a user's practice variant, else of their latest variant in an
    assignment the actor may see; or of a seed."""
    require_role(actor, Role.INSTRUCTOR)
    if username is not None and assignment_id is not None:
        return _assignment_solution(session, actor, exercise_id, username, assignment_id)
    if username is not None:
        user = visible_user(session, actor, username)
        version = latest_version(session, exercise_id)
        record = _latest_variant(session, user, version, None)
        if record is not None:
            return SolutionView(version, _solve(version, record), record)
        found = _latest_assignment_variant(session, actor, user, exercise_id)
        if found is None:
            raise NotFound(f"{username!r} has no variant of {exercise_id!r} yet")
        record, assignment = found
        version = assignment.exercise_version
        return SolutionView(version, _solve(version, record), record, assignment.id)
    version = latest_version(session, exercise_id)
    try:
        return SolutionView(version, solve(draw_variant(exercise_of(version), seed)))
    except ExerciseError as exc:
        raise ValidationFailed(
            "no variant can be drawn for this seed",
            errors=[{"parameter": "seed", "detail": str(exc)}],
        ) from None


def _solve(version: ExerciseVersion, record: VariantRecord) -> Solution:
    return solve(as_engine_variant(exercise_of(version), record))


def _assignment_solution(
    session: Session, actor: User, exercise_id: str, username: str, assignment_id: int
) -> SolutionView:
    """A user's latest variant in an assignment (the course's instructors; 404, 403,
    422 when the assignment is of another exercise)."""
    assignment, _ = assignment_access(session, actor, assignment_id, manage=True)
    version = assignment.exercise_version
    if version.exercise_id != exercise_id:
        raise ValidationFailed("the assignment is of another exercise", errors=[{
            "parameter": "assignment",
            "detail": f"assignment {assignment_id} is of {version.exercise_id!r}"}])
    record = session.execute(
        select(VariantRecord)
        .join(User, User.id == VariantRecord.user_id)
        .where(User.username == username, VariantRecord.assignment_id == assignment_id)
        .order_by(VariantRecord.number.desc())
        .limit(1)
    ).scalar_one_or_none()
    if record is None:
        raise NotFound(f"{username!r} has no variant in assignment {assignment_id} yet")
    return SolutionView(version, _solve(version, record), record, assignment_id)


def _latest_assignment_variant(
    session: Session, actor: User, user: User, exercise_id: str
) -> tuple[VariantRecord, Assignment] | None:
    """The user's most recent variant of an exercise in any assignment whose course
    the actor teaches (admins: any)."""
    query = (
        select(VariantRecord, Assignment)
        .join(Assignment, Assignment.id == VariantRecord.assignment_id)
        .join(ExerciseVersion, ExerciseVersion.id == Assignment.exercise_version_id)
        .where(VariantRecord.user_id == user.id, ExerciseVersion.exercise_id == exercise_id)
        .order_by(VariantRecord.id.desc())
        .limit(1)
    )
    if actor.role is not Role.ADMIN:
        query = query.join(Enrollment, and_(Enrollment.course_id == Assignment.course_id,
                                            Enrollment.user_id == actor.id,
                                            Enrollment.role == CourseRole.INSTRUCTOR))
    row = session.execute(query).first()
    return None if row is None else (row[0], row[1])


# ---------------------------------------------------------------- courses


def create_course(session: Session, actor: User, title: str) -> Course:
    """A course, with its creator enrolled as its instructor."""
    require_role(actor, Role.INSTRUCTOR)
    course = Course(title=title, created_by=actor.id)
    session.add(course)
    session.flush()
    session.add(Enrollment(course_id=course.id, user_id=actor.id, role=CourseRole.INSTRUCTOR))
    session.commit()
    return course


def visible_courses(session: Session, actor: User) -> list[tuple[Course, CourseRole | None]]:
    """Courses the user is enrolled in, with the role in each (admins: every course)."""
    query = select(Course, Enrollment.role).outerjoin(
        Enrollment, (Enrollment.course_id == Course.id) & (Enrollment.user_id == actor.id)
    )
    if actor.role is not Role.ADMIN:
        query = query.where(Enrollment.id.is_not(None))
    return [(c, r) for c, r in session.execute(query.order_by(Course.id))]


def _enrollment(session: Session, user: User, course_id: int) -> Enrollment | None:
    return session.execute(
        select(Enrollment).where(Enrollment.course_id == course_id, Enrollment.user_id == user.id)
    ).scalar_one_or_none()


def course_access(
    session: Session, actor: User, course_id: int, *, manage: bool = False
) -> tuple[Course, Enrollment | None]:
    """Load a course and check access.

    Raises NotFound (404) when there is no such course, and Forbidden (403) when the
    user is not enrolled, or, with `manage`, is not the course's instructor or an admin.
    """
    course = session.get(Course, course_id)
    if course is None:
        raise NotFound(f"no course {course_id}")
    enrollment = _enrollment(session, actor, course_id)
    _check_course_access(actor, enrollment.role if enrollment else None, manage=manage)
    return course, enrollment


def _check_course_access(actor: User, role: CourseRole | None, *, manage: bool) -> None:
    """403 unless the actor is an admin, or enrolled in the course (`role`, None when
    not enrolled) and, with `manage`, its instructor."""
    if actor.role is Role.ADMIN:
        return
    if role is None:
        raise NotEnrolled("you are not enrolled in this course")
    if manage and role is not CourseRole.INSTRUCTOR:
        raise Forbidden("only the course's instructors may do this")


def enroll(
    session: Session, actor: User, course_id: int, username: str, role: CourseRole
) -> Enrollment:
    course_access(session, actor, course_id, manage=True)
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise ValidationFailed(
            "unknown user", errors=[{"pointer": "/user", "detail": f"no user {username!r}"}]
        )
    if role is CourseRole.INSTRUCTOR and not is_staff(user):
        raise ValidationFailed(
            "a student account cannot teach a course",
            errors=[{"pointer": "/role", "detail": f"{username!r} is a student account"}],
        )
    enrollment = Enrollment(course_id=course_id, user_id=user.id, role=role, user=user)
    session.add(enrollment)
    _commit_or_conflict(session, f"{username!r} is already enrolled in this course")
    return enrollment


def course_enrollments(session: Session, actor: User, course_id: int) -> list[Enrollment]:
    course_access(session, actor, course_id, manage=True)
    return list(session.execute(
        select(Enrollment).where(Enrollment.course_id == course_id).order_by(Enrollment.id)
    ).scalars())


# ---------------------------------------------------------------- assignments


def create_assignment(
    session: Session,
    actor: User,
    course_id: int,
    exercise_id: str,
    max_attempts: int | None,
    opens_at: datetime | None,
    due_at: datetime | None,
    new_variant_each_attempt: bool,
) -> Assignment:
    """An assignment of the exercise's latest version, pinned from now on."""
    course_access(session, actor, course_id, manage=True)
    try:
        version = latest_version(session, exercise_id)
    except NotFound:
        raise ValidationFailed(
            "unknown exercise",
            errors=[{"pointer": "/exercise", "detail": f"no exercise {exercise_id!r}"}],
        ) from None
    assignment = Assignment(
        course_id=course_id, exercise_version=version, max_attempts=max_attempts,
        opens_at=opens_at, due_at=due_at, new_variant_each_attempt=new_variant_each_attempt,
    )
    session.add(assignment)
    session.commit()
    return assignment


def course_assignments(session: Session, actor: User, course_id: int) -> list[Assignment]:
    course_access(session, actor, course_id)
    return list(session.execute(
        select(Assignment).where(Assignment.course_id == course_id).order_by(Assignment.id)
    ).scalars())


def assignment_access(
    session: Session, actor: User, assignment_id: int, *, manage: bool = False
) -> tuple[Assignment, Enrollment | None]:
    """Load an assignment and check access as for its course (404, 403)."""
    row = session.execute(_ASSIGNMENT_ACCESS, {"assignment_id": assignment_id,
                                               "user_id": actor.id}).first()
    if row is None:
        raise NotFound(f"no assignment {assignment_id}")
    assignment, enrollment = row
    _check_course_access(actor, enrollment.role if enrollment else None, manage=manage)
    return assignment, enrollment


_ASSIGNMENT_ACCESS = (
    select(Assignment, Enrollment)
    .outerjoin(Enrollment, and_(Enrollment.course_id == Assignment.course_id,
                                Enrollment.user_id == bindparam("user_id")))
    .where(Assignment.id == bindparam("assignment_id"))
    .options(lazyload(Enrollment.user))  # not needed here: skip the join
)


def _submit_target(
    session: Session, actor: User, assignment_id: int
) -> tuple[AssignmentRow, VariantRow | None]:
    """An assignment, with access checked as for its course (404, 403), and the
    user's latest variant of it: in one query, as rows (the submit path)."""
    row = preloaded(session, ("assignment", assignment_id), actor)
    if row is None:
        row = session.connection().execute(_SUBMIT_TARGET, {"assignment_id": assignment_id,
                                                            "user_id": actor.id}).first()
    if row is None or row.assignment_id is None:
        raise NotFound(f"no assignment {assignment_id}")
    _check_course_access(actor, row.course_role, manage=False)
    assignment = AssignmentRow(row.assignment_id, row.max_attempts, row.opens_at, row.due_at,
                               row.new_variant_each_attempt, _version_row(session, row))
    return assignment, _variant_row(row)


# An assignment's columns and the caller's role in its course, for `_submit_target`.
_ASSIGNMENT_COLUMNS = (
    Assignment.id.label("assignment_id"), Assignment.max_attempts, Assignment.opens_at,
    Assignment.due_at, Assignment.new_variant_each_attempt,
    Enrollment.role.label("course_role"),
)

_SUBMIT_TARGET = (
    select(*_ASSIGNMENT_COLUMNS, *_VERSION_COLUMNS, *_VARIANT_COLUMNS)
    .join(ExerciseVersion, ExerciseVersion.id == Assignment.exercise_version_id)
    .outerjoin(Enrollment, and_(Enrollment.course_id == Assignment.course_id,
                                Enrollment.user_id == bindparam("user_id")))
    .outerjoin(VariantRecord, and_(VariantRecord.assignment_id == Assignment.id,
                                   VariantRecord.user_id == bindparam("user_id")))
    .where(Assignment.id == bindparam("assignment_id"))
    .order_by(VariantRecord.number.desc())
    .limit(1)
)

# The same, read with the token's owner in the request's first statement (`Preload`).
_ASSIGNMENT_SUBMIT = Precompiled(
    TOKEN_OWNER.add_columns(*_ASSIGNMENT_COLUMNS, *_VERSION_COLUMNS, *_VARIANT_COLUMNS)
    .outerjoin(Assignment, Assignment.id == bindparam("assignment_id"))
    .outerjoin(ExerciseVersion, ExerciseVersion.id == Assignment.exercise_version_id)
    .outerjoin(Enrollment, and_(Enrollment.course_id == Assignment.course_id,
                                Enrollment.user_id == User.id))
    .outerjoin(VariantRecord, and_(VariantRecord.assignment_id == Assignment.id,
                                   VariantRecord.user_id == User.id))
    .order_by(VariantRecord.number.desc())
    .limit(1)
)


def assignment_submit_preload(path: Mapping[str, Any]) -> Preload:
    """Authentication that also reads `_submit_target`'s row (the submit path)."""
    assignment_id = path["assignment_id"]
    return (_ASSIGNMENT_SUBMIT, {"assignment_id": assignment_id},
            ("assignment", assignment_id))


def _is_course_staff(actor: User, enrollment: Enrollment | None) -> bool:
    return actor.role is Role.ADMIN or (
        enrollment is not None and enrollment.role is CourseRole.INSTRUCTOR
    )


def _check_window(assignment: AssignmentLike, now: datetime, *, submitting: bool) -> None:
    if assignment.opens_at is not None and now < assignment.opens_at:
        raise AssignmentClosed(f"the assignment opens at {assignment.opens_at.isoformat()}")
    if submitting and assignment.due_at is not None and now >= assignment.due_at:
        raise AssignmentClosed(f"the assignment was due at {assignment.due_at.isoformat()}")


@dataclass(frozen=True)
class AssignmentView:
    assignment: Assignment
    variant: VariantRecord
    attempts_used: int
    attempts_left: int | None


def assignment_variant(session: Session, actor: User, assignment_id: int) -> AssignmentView:
    """The user's variant of an assignment, with attempts used and left."""
    assignment, enrollment = assignment_access(session, actor, assignment_id)
    if not _is_course_staff(actor, enrollment):
        _check_window(assignment, utcnow(), submitting=False)
    used = _next_attempt_number(session, actor, assignment.exercise_version.exercise_id,
                                assignment) - 1
    left = attempts_left(assignment.max_attempts, used)
    version = assignment.exercise_version
    if left == 0:
        # No attempt left: show the last variant rather than draw one never answered.
        variant = _latest_variant(session, actor, version, assignment) or current_variant(
            session, actor, version, assignment)
    else:
        variant = current_variant(session, actor, version, assignment)
    return AssignmentView(assignment, variant, used, left)


def submit_assignment(
    session: Session, actor: User, assignment_id: int, answers: Any, key: str | None
) -> AttemptOutcome:
    """Grade and store an attempt at an assignment, within its window and limit."""
    fingerprint = request_fingerprint("assignment", assignment_id, answers, key)
    assignment, latest = _submit_target(session, actor, assignment_id)
    replayed = _replay(session, actor, key, fingerprint, assignment.max_attempts)
    if replayed is not None:
        return replayed
    _check_window(assignment, utcnow(), submitting=True)
    version = assignment.exercise_version
    # The latest variant is the one the user was shown; an answered one is refused
    # (fresh variant per attempt) when the attempt is stored.
    variant: VariantLike = latest or _new_variant(session, actor, version, assignment, 1)
    result = _grade(version.exercise, variant, answers)
    return _store_attempt(session, actor, version, variant, assignment, answers, result, key,
                          fingerprint)


def assignment_attempts(
    session: Session, actor: User, assignment_id: int, username: str | None
) -> list[AttemptRecord]:
    """A user's attempts at an assignment; another user's only for course staff."""
    assignment, enrollment = assignment_access(session, actor, assignment_id)
    user = actor
    if username is not None and username != actor.username:
        if not _is_course_staff(actor, enrollment):
            raise Forbidden("only the course's instructors may see another user's attempts")
        user = user_named(session, username)
    return [AttemptRecord.of(a) for a in session.execute(
        select(Attempt)
        .where(Attempt.assignment_id == assignment.id, Attempt.user_id == user.id)
        .order_by(Attempt.number)
    ).scalars()]


# ---------------------------------------------------------------- gradebook


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


def gradebook(session: Session, actor: User, course_id: int) -> Gradebook:
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
    best: dict[tuple[int, int], tuple[float, int]] = {
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

