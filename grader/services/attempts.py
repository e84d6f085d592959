"""Attempts: grading a submission against a variant, storing it numbered under the
attempt limit, and replaying an idempotent retry.

An attempt is inserted by one INSERT ... SELECT that numbers it one past the last of its
scope and inserts nothing when the limit is reached: two requests that read the same
last number collide on the unique (user, assignment, number) constraint, so the limit
holds however many arrive at once. The loser's use case runs again
(`run_transaction`). No lock is held while grading, and none at all on the happy path.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import Insert, bindparam, exists, func, insert, select
from sqlalchemy.orm import Session

from engine import Exercise, solve
from grader.db import JsonText
from grader.i18n import gettext as _
from grader.i18n import mark, ngettext
from grader.lti.outbox import enqueue_scores
from grader.models import Attempt, Feedback, utcnow
from grader.scoring import BlankResult, GradeResult, SubmissionError, grade, parse_submission
from grader.services.accounts import Caller
from grader.services.errors import (
    IdempotencyKeyReused,
    NoAttemptsLeft,
    ValidationFailed,
    VariantAlreadyAnswered,
    json_pointer,
)
from grader.services.feedback_policy import shown_result
from grader.services.rows import AssignmentLike, VariantLike, VersionLike
from grader.services.variants import as_engine_variant

INSERT_TRIES = 20  # numbering races lost on SQLite before giving up
TOO_MANY_AT_ONCE = mark("too many simultaneous attempts; retry")


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
    # How much of the result this record holds: all of it, unless made for a student
    # of an assignment with another feedback policy (`shown_as`).
    feedback: Feedback = Feedback.FULL

    def shown_as(self, feedback: Feedback) -> AttemptRecord:
        """The attempt as a student sees it under a feedback policy."""
        if feedback is self.feedback:
            return self
        if self.feedback is not Feedback.FULL:
            raise ValueError("only a full result can be shown under another policy")
        return dataclasses.replace(self, result=shown_result(self.result_data(), feedback),
                                   result_json=None, feedback=feedback)

    def result_data(self) -> Mapping[str, Any]:
        if self.result is not None:
            return self.result
        if self.result_json is None:
            raise ValueError("an attempt record holds its result one way or the other")
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

    def shown_as(self, feedback: Feedback) -> AttemptOutcome:
        return dataclasses.replace(self, attempt=self.attempt.shown_as(feedback))


def request_fingerprint(kind: str, target: str | int, body: Any, key: str | None) -> str | None:
    """What tells a retry (same key, same request) from a reuse of its key: only
    computed, and stored, when there is a key."""
    if key is None:
        return None
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(f"{kind}:{target}:{canonical}".encode()).hexdigest()


def replay(
    session: Session, user: Caller, key: str | None, fingerprint: str | None,
    max_attempts: int | None,
) -> AttemptOutcome | None:
    """The attempt an earlier request with this Idempotency-Key stored, if any."""
    if key is None:
        return None
    stored = session.execute(
        select(Attempt).where(Attempt.user_id == user.id, Attempt.idempotency_key == key)
    ).scalar_one_or_none()
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            _("this Idempotency-Key was used for a different request"),
            errors=[{"header": "Idempotency-Key",
                     "detail": _("already used for another request")}],
        )
    return AttemptOutcome(AttemptRecord.of(stored), attempts_left(max_attempts, stored.number),
                          replayed=True)


def attempts_left(max_attempts: int | None, used: int) -> int | None:
    return None if max_attempts is None else max(max_attempts - used, 0)


def attempts_used(session: Session, user_id: int, exercise_id: str,
                  assignment: AssignmentLike | None) -> int:
    return int(session.execute(
        select(func.coalesce(func.max(Attempt.number), 0)).where(
            *_attempt_scope(user_id, exercise_id, assignment))
    ).scalar_one())


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
def numbered_insert(practice: bool, limited: bool, fresh_variant: bool) -> Insert:
    """INSERT ... SELECT that numbers an attempt one past the last of its scope, and
    inserts nothing when the limit is reached (or, with a fresh variant per attempt,
    when the variant was answered). One statement object per shape, so SQLAlchemy
    compiles each shape once."""
    table = Attempt.metadata.tables[Attempt.__tablename__]
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
    return (insert(table).from_select([*_ATTEMPT_VALUES, "number"], row)
            .returning(table.c.id, table.c.number))


def store_attempt(
    session: Session,
    user: Caller,
    version: VersionLike,
    variant: VariantLike,
    assignment: AssignmentLike | None,
    answers: Mapping[str, Any],
    result: GradeResult,
    key: str | None,
    fingerprint: str | None,
    *,
    passback: bool = False,
) -> AttemptOutcome:
    """Insert a graded attempt numbered one past the last, under the attempt limit
    (NoAttemptsLeft, VariantAlreadyAnswered). `passback`: the assignment is placed in an
    LMS, whose score jobs are written next, in the caller's transaction (which must be
    one: not the autocommit session)."""
    max_attempts = assignment.max_attempts if assignment else None
    assignment_id = assignment.id if assignment else None
    result_json = JsonText(result.as_json())
    created_at = utcnow()
    values = {
        "user_id": user.id, "exercise_id": version.exercise_id,
        "exercise_version_id": version.id, "variant_id": variant.id,
        "assignment_id": assignment_id, "answers": dict(answers), "result": result_json,
        "score": result.score, "idempotency_key": key, "request_hash": fingerprint,
        "created_at": created_at,
    }
    statement = numbered_insert(
        practice=assignment is None,
        limited=max_attempts is not None,
        fresh_variant=assignment is not None and assignment.new_variant_each_attempt,
    )
    # Core on the session's connection: no ORM bookkeeping for a row nobody loads.
    inserted = session.connection().execute(
        statement, {**values, "max_attempts": max_attempts}).first()
    if inserted is None:
        _refusal(session, user, version, assignment)
    if passback and assignment_id is not None:
        enqueue_scores(session, inserted.id, assignment_id)
    attempt = AttemptRecord(inserted.id, inserted.number, None, version.exercise_id,
                            version.number, variant.number, assignment_id, created_at,
                            result_json)
    return AttemptOutcome(attempt, attempts_left(max_attempts, inserted.number), replayed=False)


def _refusal(
    session: Session, user: Caller, version: VersionLike, assignment: AssignmentLike | None,
) -> NoReturn:
    """Why an attempt was refused: the limit, or an answered variant."""
    if assignment is None:
        raise RuntimeError("a practice attempt is never refused by its insert")
    used = attempts_used(session, user.id, version.exercise_id, assignment)
    if assignment.max_attempts is not None and used >= assignment.max_attempts:
        raise NoAttemptsLeft(ngettext("the only attempt has been used",
                                      "all {count} attempts have been used",
                                      assignment.max_attempts).format(
            count=assignment.max_attempts))
    raise VariantAlreadyAnswered(
        _("this variant has been answered; fetch the assignment for your new variant")
    )


def grade_submission(exercise: Exercise, variant: VariantLike, answers: Any) -> GradeResult:
    """The scoring core's result for a submission. A submission that does not fit the
    exercise, or holds a blank that is not a number, is refused (ValidationFailed):
    nothing is graded or stored, and no attempt is used."""
    try:
        submission = parse_submission(answers, exercise)
    except SubmissionError as exc:
        raise ValidationFailed(
            _("the submission does not fit the exercise"),
            errors=[e.as_dict() for e in exc.errors]
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
