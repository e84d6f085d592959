"""The submit path's response, written without a model, is what AttemptOut writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pydantic_core
import pytest

from grader.api import present
from grader.db import JsonText
from grader.models import Feedback
from grader.services.attempts import AttemptRecord

RESULT = {
    "score": 0.75,
    "blanks": [
        {"kind": "forward", "node": "q", "status": "correct", "points": 1.0,
         "max_points": 1.0, "mistake": None, "message": "correct"},
        {"kind": "local", "node": "f", "input": "q", "status": "incorrect", "points": 0.0,
         "max_points": 1.0, "mistake": "swapped-inputs", "message": "ja \u00e9 \"quoted\""},
    ],
    "first_error": {"kind": "local", "node": "f", "input": "q", "propagated_into": []},
}


@pytest.mark.parametrize("feedback", list(Feedback))
@pytest.mark.parametrize("stored_text", [True, False])
@pytest.mark.parametrize(("assignment", "left"), [(None, None), (7, 0), (7, 3)])
def test_attempt_json_is_attempt_out_serialized(stored_text, assignment, left, feedback):
    record = AttemptRecord(
        id=41, number=3, result=RESULT, exercise_id="sigmoid-neuron", version=2, variant=5,
        assignment_id=assignment, created_at=datetime(2026, 11, 26, 20, 1, 2, 345678, UTC),
        result_json=JsonText(pydantic_core.to_json(RESULT).decode()) if stored_text else None,
    ).shown_as(feedback)
    written = present.attempt_json(record, left)
    expected = pydantic_core.to_json(present.attempt_out(record, left), by_alias=True)
    assert json.loads(written) == json.loads(expected)
    assert list(json.loads(written)) == [
        "id", "number", "attempts_left", "score", "blanks", "first_error", "exercise",
        "version", "variant", "assignment", "feedback", "created_at"]
    assert json.loads(written)["feedback"] == feedback.value


def test_attempt_json_refuses_a_result_that_is_not_an_object():
    record = AttemptRecord(1, 1, {}, "x", 1, 1, None, datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="JSON object"):
        present.attempt_json(record, None)
