"""/api/v1/exercises: the exercise bank, practice variants and practice attempts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app

from grader.api import present, schemas
from grader.api.operations import Reply, operation
from grader.models import Role
from grader.rate_limits import SUBMIT
from grader.scoring import SubmissionBody
from grader.services import exercises, practice, solutions
from grader.services.accounts import Caller
from grader.services.attempts import AttemptOutcome
from grader.sessions import get_session

bp = Blueprint("exercises", __name__, url_prefix="/exercises")

REPLAYED_HEADER = "Idempotent-Replayed"


@bp.get("")
@operation("Exercises the caller may practise (instructors: all)",
           response=list[schemas.ExerciseSummary])
def list_exercises(actor: Caller) -> list[schemas.ExerciseSummary]:
    return [
        schemas.ExerciseSummary(id=v.exercise_id, title=v.title, version=v.number,
                                practice=v.practice)
        for v in exercises.visible_exercises(get_session(), actor)
    ]


@bp.get("/<exercise_id:exercise_id>")
@operation("The caller's variant of an exercise: graph, inputs, what is asked; no answers. "
           "Never the numbers of an assignment open to the caller: 403 practice-closed "
           "(with `until`) when no others can be drawn",
           response=schemas.VariantOut, problems=(403, 404))
def get_exercise(actor: Caller, exercise_id: str) -> schemas.VariantOut:
    version, variant = practice.practice_variant(get_session(), actor, exercise_id)
    return present.variant_out(version, variant)


@bp.put("/<exercise_id:exercise_id>")
@operation("Create an exercise (201) or add a version (200) from its YAML text "
           "(instructors; at most GRADER_MAX_EXERCISE_BYTES, else 413)",
           response=schemas.StoredExerciseOut, yaml_body=True, body_limit="MAX_EXERCISE_BYTES",
           roles=(Role.INSTRUCTOR,), problems=(400, 403, 409, 413, 415, 422),
           extra_statuses={201: schemas.StoredExerciseOut})
def put_exercise(actor: Caller, exercise_id: str, text: str) -> Reply:
    stored = exercises.put_exercise(
        get_session(), actor, exercise_id, text, current_app.config["MAX_EXERCISE_BYTES"]
    )
    version = stored.version
    body = schemas.StoredExerciseOut(
        id=version.exercise_id, version=version.number, title=version.title,
        content_hash=version.content_hash, created=stored.created_version,
    )
    return Reply(body, 201 if stored.created_exercise else 200,
                 {"Location": f"/api/v1/exercises/{version.exercise_id}"})


@bp.post("/<exercise_id:exercise_id>/variants")
@operation("Draw a fresh practice variant for the caller (never an open assignment's "
           "numbers: 403 practice-closed)", response=schemas.VariantOut,
           status=201, problems=(403, 404))
def new_variant(actor: Caller, exercise_id: str) -> schemas.VariantOut:
    version, variant = practice.new_practice_variant(get_session(), actor, exercise_id)
    return present.variant_out(version, variant)


@bp.post("/<exercise_id:exercise_id>/attempts")
@operation("Submit a practice attempt; the result names every blank. 403 practice-closed "
           "while an assignment open to the caller has the same numbers; 409 "
           "variant-replaced when the variant answered was replaced for having them",
           response=schemas.AttemptOut, status=201, json_body=SubmissionBody,
           idempotency_key=True, problems=(400, 403, 404, 409, 413, 415, 422),
           autocommit=True, rate_limit=SUBMIT)
def submit_practice(actor: Caller, exercise_id: str, body: Any,
                    idempotency_key: str | None) -> Response:
    outcome = practice.submit_practice(get_session(), actor, exercise_id, body, idempotency_key)
    return attempt_reply(outcome)


@bp.get("/<exercise_id:exercise_id>/attempts")
@operation("The caller's practice attempts (?user=: an instructor's students, those "
           "made since they joined the instructor's course; admins: anyone's; 403 "
           "otherwise, whether or not the user exists)",
           response=list[schemas.AttemptOut], query=schemas.AttemptsQuery, problems=(403, 404))
def list_practice_attempts(actor: Caller, exercise_id: str,
                           query: schemas.AttemptsQuery) -> list[schemas.AttemptOut]:
    attempts = practice.practice_attempts(get_session(), actor, exercise_id, query.user)
    return [present.attempt_out(a, None) for a in attempts]


@bp.get("/<exercise_id:exercise_id>/solution")
@operation("The worked reference solution of a variant (instructors): a seed's, or a "
           "user's (their practice variant drawn since they joined the caller's course, "
           "else their latest assignment variant; ?assignment= picks one). An exercise "
           "closed to practice: its owner, instructors of courses that assign it, admins "
           "(403); 403 solution-not-released for the numbers of an assignment open to "
           "the caller",
           response=schemas.SolutionOut, query=schemas.SolutionQuery, roles=(Role.INSTRUCTOR,),
           problems=(403, 404, 422))
def get_solution(actor: Caller, exercise_id: str,
                 query: schemas.SolutionQuery) -> schemas.SolutionOut:
    view = solutions.exercise_solution(
        get_session(), actor, exercise_id, query.user, query.seed, query.assignment
    )
    return present.solution_out(view)


def attempt_reply(outcome: AttemptOutcome) -> Response:
    headers = {REPLAYED_HEADER: "true"} if outcome.replayed else {}
    body = present.attempt_json(outcome.attempt, outcome.attempts_left)
    return Response(body, status=201, headers=headers, mimetype="application/json")
