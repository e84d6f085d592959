"""/api/v1/assignments: a student's variant of an assignment and their attempts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from grader.api import present, schemas
from grader.api.exercises import attempt_reply
from grader.api.operations import operation
from grader.rate_limits import SUBMIT
from grader.scoring import SubmissionBody
from grader.services import assignments, solutions
from grader.services.accounts import Caller
from grader.services.attempts import attempts_left
from grader.services.courses import assignment_access
from grader.sessions import get_session, reopen_in_transaction

bp = Blueprint("assignments", __name__, url_prefix="/assignments")

ASSIGNMENT = "<row_id:assignment_id>"


@bp.get(f"/{ASSIGNMENT}")
@operation("The caller's variant of an assignment, with attempts used and left",
           response=schemas.AssignmentVariantOut, problems=(403, 404))
def get_assignment(actor: Caller, assignment_id: int) -> schemas.AssignmentVariantOut:
    view = assignments.assignment_variant(get_session(), actor, assignment_id)
    return schemas.AssignmentVariantOut(
        **present.variant_fields(view.assignment.exercise_version, view.variant),
        assignment=present.assignment_out(view.assignment),
        attempts_used=view.attempts_used,
        attempts_left=view.attempts_left,
    )


@bp.post(f"/{ASSIGNMENT}/attempts")
@operation("Submit an attempt: 409 when none are left, 403 when closed or not enrolled; "
           "a malformed submission is 422 and uses no attempt; a student is shown what "
           "the assignment's feedback policy shows",
           response=schemas.AttemptOut, status=201, json_body=SubmissionBody,
           idempotency_key=True, problems=(400, 403, 404, 409, 413, 415, 422),
           autocommit=True, rate_limit=SUBMIT)
def submit(actor: Caller, assignment_id: int, body: Any, idempotency_key: str | None) -> Response:
    try:
        outcome = assignments.submit_assignment(get_session(), actor, assignment_id, body,
                                                idempotency_key, autocommit=True)
    except assignments.TransactionNeeded:
        # Placed in an LMS: the attempt and its score jobs go in one transaction.
        outcome = assignments.submit_assignment(reopen_in_transaction(), actor,
                                                assignment_id, body, idempotency_key)
    return attempt_reply(outcome)


@bp.get(f"/{ASSIGNMENT}/attempts")
@operation("The caller's attempts at an assignment, as its feedback policy shows them "
           "(course instructors: ?user= of a user enrolled in the course, in full; 403 "
           "for anyone else, whether or not the user exists)",
           response=list[schemas.AttemptOut], query=schemas.AttemptsQuery, problems=(403, 404))
def list_attempts(actor: Caller, assignment_id: int,
                  query: schemas.AttemptsQuery) -> list[schemas.AttemptOut]:
    session = get_session()
    attempts = assignments.assignment_attempts(session, actor, assignment_id, query.user)
    assignment, _ = assignment_access(session, actor, assignment_id)
    return [present.attempt_out(a, attempts_left(assignment.max_attempts, a.number))
            for a in attempts]


@bp.get(f"/{ASSIGNMENT}/solution")
@operation("The worked solution of the caller's variant: course staff always; a student "
           "once the assignment is due, if it shows solutions then, and no other "
           "assignment open to them has the same numbers (403 otherwise)",
           response=schemas.SolutionOut, problems=(403, 404))
def get_solution(actor: Caller, assignment_id: int) -> schemas.SolutionOut:
    view = solutions.own_assignment_solution(get_session(), actor, assignment_id)
    return present.solution_out(view)
