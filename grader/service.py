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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import Executable, and_, bindparam, exists, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from engine import (
    Exercise,
    ExerciseError,
    Solution,
    Variant,
    draw_variant,
    parse_exercise,
    solve,
)
from grader.auth import is_staff, issue_token, require_role
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
from grader.scoring import BlankResult, SubmissionError, grade, parse_submission

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


def exercise_of(version: ExerciseVersion) -> Exercise:
    """The parsed spec of a stored version (its text is loaded only on a cache miss)."""
    cached = _specs.get(version.content_hash)
    if cached is not None:
        return cached
    exercise = parse_exercise_text(version.yaml_text, max_bytes=None)
    _specs.put(version.content_hash, exercise)
    return exercise


# ---------------------------------------------------------------- users and tokens


def create_user(session: Session, username: str, role: Role) -> User:
    """A new account (409 when the username is taken)."""
    user = User(username=username, role=role)
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"user {username!r} already exists") from None
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
    try:
        session.commit()
    except IntegrityError:
        # Another upload of the same exercise won the race for this number.
        session.rollback()
        raise Conflict("the exercise was changed at the same time; retry") from None
    _specs.put(exercise.content_hash, exercise)
    return StoredVersion(version, created_exercise=number == 1, created_version=True)


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


def as_engine_variant(exercise: Exercise, record: VariantRecord) -> Variant:
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
    session: Session, user: User, version: ExerciseVersion, assignment: Assignment | None
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
    session: Session, user: User, version: ExerciseVersion, assignment: Assignment | None,
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
) -> tuple[ExerciseVersion, VariantRecord]:
    """A fresh practice variant on request (404, 403)."""
    version, latest = _practice_target(session, actor, exercise_id)
    number = latest.number + 1 if latest else 1
    return version, _new_variant(session, actor, version, None, number)


def _was_answered(session: Session, variant: VariantRecord) -> bool:
    return session.execute(
        select(Attempt.id).where(Attempt.variant_id == variant.id).limit(1)
    ).first() is not None


# ---------------------------------------------------------------- attempts


@dataclass(frozen=True)
class AttemptOutcome:
    attempt: Attempt
    attempts_left: int | None
    replayed: bool  # True when an Idempotency-Key retry returned a stored attempt


def request_fingerprint(kind: str, target: str | int, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(f"{kind}:{target}:{canonical}".encode()).hexdigest()


def _replay(
    session: Session, user: User, key: str | None, fingerprint: str,
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
    return AttemptOutcome(stored, attempts_left(max_attempts, stored.number), replayed=True)


def attempts_left(max_attempts: int | None, used: int) -> int | None:
    return None if max_attempts is None else max(max_attempts - used, 0)


def _next_attempt_number(
    session: Session, user: User, exercise_id: str, assignment: Assignment | None
) -> int:
    return int(session.execute(
        select(func.coalesce(func.max(Attempt.number), 0)).where(
            *_attempt_scope(user.id, exercise_id, assignment))
    ).scalar_one()) + 1


def _attempt_scope(user_id: int, exercise_id: str, assignment: Assignment | None) -> list[Any]:
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
def _numbered_insert(practice: bool, limited: bool, fresh_variant: bool) -> Executable:
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
        row = row.where(~exists().where(table.c.variant_id == bindparam("variant_id")))
    return (insert(table).from_select([*_ATTEMPT_VALUES, "number"], row)
            .returning(table.c.id, table.c.number))


def _insert_numbered(
    session: Session, values: dict[str, Any], assignment: Assignment | None
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
    inserted = session.execute(statement, {**values, "max_attempts": limit}).first()
    return None if inserted is None else (inserted.id, inserted.number)


def _store_attempt(
    session: Session,
    user: User,
    version: ExerciseVersion,
    variant: VariantRecord,
    assignment: Assignment | None,
    answers: Mapping[str, Any],
    result: Mapping[str, Any],
    key: str | None,
    fingerprint: str,
) -> AttemptOutcome:
    """Store a graded attempt under the attempt limit and commit."""
    max_attempts = assignment.max_attempts if assignment else None
    values = {
        "user_id": user.id, "exercise_id": version.exercise_id,
        "exercise_version_id": version.id, "variant_id": variant.id,
        "assignment_id": assignment.id if assignment else None,
        "answers": dict(answers), "result": dict(result), "score": float(result["score"]),
        "idempotency_key": key, "request_hash": fingerprint, "created_at": utcnow(),
    }
    for _ in range(INSERT_RETRIES):
        try:
            inserted = _insert_numbered(session, values, assignment)
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
        attempt = Attempt(id=attempt_id, number=number, variant=variant,
                          exercise_version=version, **values)
        return AttemptOutcome(attempt, attempts_left(max_attempts, number), replayed=False)
    raise Conflict("too many simultaneous attempts; retry")


def _refusal(
    session: Session, user: User, version: ExerciseVersion, variant: VariantRecord,
    assignment: Assignment | None,
) -> NoReturn:
    """Why an attempt was refused: the limit, or an answered variant."""
    assert assignment is not None  # practice attempts are never refused
    used = _next_attempt_number(session, user, version.exercise_id, assignment) - 1
    if assignment.max_attempts is not None and used >= assignment.max_attempts:
        raise NoAttemptsLeft(f"all {assignment.max_attempts} attempts have been used")
    raise VariantAlreadyAnswered(
        "this variant has been answered; fetch the assignment for your new variant"
    )


def _grade(exercise: Exercise, variant: VariantRecord, answers: Any) -> dict[str, Any]:
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
    return result.as_dict()


def _blank_location(blank: BlankResult) -> tuple[str, ...]:
    return (blank.kind, blank.node) if blank.input is None else (
        blank.kind, blank.node, blank.input)


def _practice_target(
    session: Session, actor: User, exercise_id: str
) -> tuple[ExerciseVersion, VariantRecord | None]:
    """The latest version of an exercise the user may practise, with the user's
    latest practice variant of it (one query: this is the submit path)."""
    row = session.execute(_PRACTICE_TARGET, {"exercise_id": exercise_id,
                                             "user_id": actor.id}).first()
    if row is None:
        raise NotFound(f"no exercise {exercise_id!r}")
    version, variant = row
    if not version.practice and not is_staff(actor):
        raise Forbidden(f"exercise {exercise_id!r} is not open for practice")
    return version, variant


_PRACTICE_TARGET = (
    select(ExerciseVersion, VariantRecord)
    .join(ExerciseRecord, and_(ExerciseRecord.id == ExerciseVersion.exercise_id,
                               ExerciseRecord.latest_version == ExerciseVersion.number))
    .outerjoin(VariantRecord, and_(VariantRecord.exercise_version_id == ExerciseVersion.id,
                                   VariantRecord.user_id == bindparam("user_id"),
                                   VariantRecord.assignment_id.is_(None)))
    .where(ExerciseVersion.exercise_id == bindparam("exercise_id"))
    .order_by(VariantRecord.number.desc())
    .limit(1)
)


def practice_variant(
    session: Session, actor: User, exercise_id: str
) -> tuple[ExerciseVersion, VariantRecord]:
    """The user's practice variant of an exercise, drawn on first visit (404, 403)."""
    version, variant = _practice_target(session, actor, exercise_id)
    return version, variant or _new_variant(session, actor, version, None, 1)


def submit_practice(
    session: Session, actor: User, exercise_id: str, answers: Any, key: str | None
) -> AttemptOutcome:
    """Grade and store a practice attempt (unlimited, not part of any course)."""
    fingerprint = request_fingerprint("practice", exercise_id, answers)
    replayed = _replay(session, actor, key, fingerprint, None)
    if replayed is not None:
        return replayed
    version, variant = practice_variant(session, actor, exercise_id)
    result = _grade(exercise_of(version), variant, answers)
    return _store_attempt(session, actor, version, variant, None, answers, result, key,
                          fingerprint)


def practice_attempts(
    session: Session, actor: User, exercise_id: str, username: str | None = None
) -> list[Attempt]:
    """A user's practice attempts at an exercise; another user's only for staff."""
    user = _subject(session, actor, username)
    latest_version(session, exercise_id)  # 404 for an unknown exercise
    return list(session.execute(
        select(Attempt)
        .where(Attempt.user_id == user.id, Attempt.exercise_id == exercise_id,
               Attempt.assignment_id.is_(None))
        .order_by(Attempt.number)
    ).scalars())


def _subject(session: Session, actor: User, username: str | None) -> User:
    if username is None or username == actor.username:
        return actor
    if not is_staff(actor):
        raise Forbidden("only instructors may see another user's attempts")
    return user_named(session, username)


def exercise_solution(
    session: Session, actor: User, exercise_id: str, username: str | None, seed: int | None
) -> tuple[ExerciseVersion, Solution]:
    """The reference solution of a user's practice variant, or of a seed (staff)."""
    require_role(actor, Role.INSTRUCTOR)
    version = latest_version(session, exercise_id)
    exercise = exercise_of(version)
    if username is not None:
        user = user_named(session, username)
        record = _latest_variant(session, user, version, None)
        if record is None:
            raise NotFound(f"{username!r} has no variant of {exercise_id!r} yet")
        return version, solve(as_engine_variant(exercise, record))
    try:
        return version, solve(draw_variant(exercise, seed))
    except ExerciseError as exc:
        raise ValidationFailed(
            "no variant can be drawn for this seed",
            errors=[{"parameter": "seed", "detail": str(exc)}],
        ) from None


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
    _check_course_access(actor, enrollment, manage=manage)
    return course, enrollment


def _check_course_access(actor: User, enrollment: Enrollment | None, *, manage: bool) -> None:
    if actor.role is Role.ADMIN:
        return
    if enrollment is None:
        raise NotEnrolled("you are not enrolled in this course")
    if manage and enrollment.role is not CourseRole.INSTRUCTOR:
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
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"{username!r} is already enrolled in this course") from None
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
    assignment, enrollment, _ = _assignment_target(session, actor, assignment_id,
                                                   manage=manage)
    return assignment, enrollment


def _assignment_target(
    session: Session, actor: User, assignment_id: int, *, manage: bool = False
) -> tuple[Assignment, Enrollment | None, VariantRecord | None]:
    """An assignment, the user's enrollment in its course and their latest variant of
    it, in one query (the submit path); access checked as for the course (404, 403)."""
    row = session.execute(_ASSIGNMENT_TARGET, {"assignment_id": assignment_id,
                                               "user_id": actor.id}).first()
    if row is None:
        raise NotFound(f"no assignment {assignment_id}")
    assignment, enrollment, variant = row
    _check_course_access(actor, enrollment, manage=manage)
    return assignment, enrollment, variant


_ASSIGNMENT_TARGET = (
    select(Assignment, Enrollment, VariantRecord)
    .outerjoin(Enrollment, and_(Enrollment.course_id == Assignment.course_id,
                                Enrollment.user_id == bindparam("user_id")))
    .outerjoin(VariantRecord, and_(VariantRecord.assignment_id == Assignment.id,
                                   VariantRecord.user_id == bindparam("user_id")))
    .where(Assignment.id == bindparam("assignment_id"))
    .order_by(VariantRecord.number.desc())
    .limit(1)
    .options(lazyload(Enrollment.user))  # not needed here: skip the join
)


def _is_course_staff(actor: User, enrollment: Enrollment | None) -> bool:
    return actor.role is Role.ADMIN or (
        enrollment is not None and enrollment.role is CourseRole.INSTRUCTOR
    )


def _check_window(assignment: Assignment, now: datetime, *, submitting: bool) -> None:
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
    fingerprint = request_fingerprint("assignment", assignment_id, answers)
    assignment, _, latest = _assignment_target(session, actor, assignment_id)
    replayed = _replay(session, actor, key, fingerprint, assignment.max_attempts)
    if replayed is not None:
        return replayed
    _check_window(assignment, utcnow(), submitting=True)
    version = assignment.exercise_version
    # The latest variant is the one the user was shown; an answered one is refused
    # (fresh variant per attempt) when the attempt is stored.
    variant = latest or _new_variant(session, actor, version, assignment, 1)
    result = _grade(exercise_of(version), variant, answers)
    return _store_attempt(session, actor, version, variant, assignment, answers, result, key,
                          fingerprint)


def assignment_attempts(
    session: Session, actor: User, assignment_id: int, username: str | None
) -> list[Attempt]:
    """A user's attempts at an assignment; another user's only for course staff."""
    assignment, enrollment = assignment_access(session, actor, assignment_id)
    user = actor
    if username is not None and username != actor.username:
        if not _is_course_staff(actor, enrollment):
            raise Forbidden("only the course's instructors may see another user's attempts")
        user = user_named(session, username)
    return list(session.execute(
        select(Attempt)
        .where(Attempt.assignment_id == assignment.id, Attempt.user_id == user.id)
        .order_by(Attempt.number)
    ).scalars())


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

