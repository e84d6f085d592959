"""Stored records and engine objects turned into the API's response models."""

from __future__ import annotations

from typing import Any

import pydantic_core

from engine import Exercise
from engine import Tolerance as EngineTolerance
from grader.api import schemas
from grader.models import Assignment
from grader.services.attempts import AttemptRecord
from grader.services.rows import VariantLike, VersionLike, exercise_of
from grader.services.solutions import SolutionView


def tolerance_out(tolerance: EngineTolerance) -> schemas.Tolerance:
    return schemas.Tolerance.model_validate(tolerance.model_dump(exclude_none=True))


def variant_fields(version: VersionLike, variant: VariantLike) -> dict[str, object]:
    """The fields of `VariantOut`: the graph, the inputs given, and what is asked."""
    exercise: Exercise = exercise_of(version)
    return {
        "exercise": version.exercise_id,
        "version": version.number,
        "title": exercise.title,
        "description": exercise.description,
        "variant": variant.number,
        "seed": variant.seed,
        "inputs": dict(variant.inputs),
        "nodes": [
            schemas.NodeOut(id=g.id, op=g.op, inputs=list(g.inputs), params=dict(g.params))
            for g in exercise.gates
        ],
        "edges": [
            schemas.EdgeOut(source=name, target=g.id, slot=slot)
            for g in exercise.gates
            for slot, name in enumerate(g.inputs)
        ],
        "output": exercise.output,
        "ask": list(exercise.ask),
        "tolerance": tolerance_out(exercise.tolerance.resolved()),
        "node_tolerances": {
            node: tolerance_out(exercise.tolerance_for(node)) for node in exercise.node_tolerances
        },
    }


def variant_out(version: VersionLike, variant: VariantLike) -> schemas.VariantOut:
    return schemas.VariantOut(**variant_fields(version, variant))


def _attempt_head(attempt: AttemptRecord, attempts_left: int | None) -> dict[str, Any]:
    """AttemptOut's fields before the result's."""
    return {"id": attempt.id, "number": attempt.number, "attempts_left": attempts_left}


def _attempt_tail(attempt: AttemptRecord) -> dict[str, Any]:
    """AttemptOut's fields after the result's."""
    return {"exercise": attempt.exercise_id, "version": attempt.version,
            "variant": attempt.variant, "assignment": attempt.assignment_id,
            "feedback": attempt.feedback, "created_at": attempt.created_at}


def attempt_out(attempt: AttemptRecord, attempts_left: int | None) -> schemas.AttemptOut:
    return schemas.AttemptOut(**_attempt_head(attempt, attempts_left), **attempt.result_data(),
                              **_attempt_tail(attempt))


def attempt_json(attempt: AttemptRecord, attempts_left: int | None) -> bytes:
    """`attempt_out` as JSON, the submit path's response: the result's JSON text, as
    stored, between the attempt's other fields. No model is built and the result (most
    of the response) is not serialized a second time."""
    result = attempt.result_json or pydantic_core.to_json(attempt.result_data()).decode()
    if not (result.startswith("{") and result.endswith("}") and len(result) > 2):
        raise ValueError("an attempt's result is a JSON object with the score and blanks")
    head = pydantic_core.to_json(_attempt_head(attempt, attempts_left))
    tail = pydantic_core.to_json(_attempt_tail(attempt))
    return b"".join((head[:-1], b",", result[1:-1].encode(), b",", tail[1:]))


def assignment_out(assignment: Assignment) -> schemas.AssignmentOut:
    version = assignment.exercise_version
    return schemas.AssignmentOut(
        id=assignment.id,
        course=assignment.course_id,
        exercise=version.exercise_id,
        version=version.number,
        title=version.title,
        max_attempts=assignment.max_attempts,
        opens_at=assignment.opens_at,
        due_at=assignment.due_at,
        new_variant_each_attempt=assignment.new_variant_each_attempt,
        feedback=assignment.feedback,
        solution_after_due=assignment.solution_after_due,
        score_policy=assignment.score_policy,
        created_at=assignment.created_at,
    )


def solution_out(view: SolutionView) -> schemas.SolutionOut:
    version, solution = view.version, view.solution
    return schemas.SolutionOut(
        exercise=version.exercise_id, version=version.number, assignment=view.assignment_id,
        variant=view.variant.number if view.variant is not None else None,
        seed=solution.variant.seed, inputs=dict(solution.variant.inputs),
        values=dict(solution.values), grads=dict(solution.grads),
        steps=[step.as_dict() for step in solution.steps],
    )
