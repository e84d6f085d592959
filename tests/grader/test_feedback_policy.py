"""What a student is shown of a result under each feedback policy (pure), and when
a student may read an assignment's solution."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine import draw_variant, load_exercise, solve
from grader.models import Assignment, Feedback
from grader.scoring import grade, parse_submission
from grader.services.attempts import AttemptRecord
from grader.services.errors import SolutionNotReleased
from grader.services.feedback_policy import neutral_message, shown_result
from grader.services.solutions import check_solution_released

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"


@pytest.fixture(scope="module")
def result() -> dict:
    """A real result of `branching` with a slip carried forward and a sign flipped."""
    exercise = load_exercise(EXERCISES / "branching.yaml")
    solution = solve(draw_variant(exercise, None))
    forward = {g.id: solution.values[g.id] for g in exercise.gates}
    forward.update(a=-5.0, ab=-5.0, f=-2.0)  # a slip at a, and the gates after it
    backward = {**solution.grads, "x": -solution.grads["x"]}
    graded = grade(solution, parse_submission({"forward": forward, "backward": backward},
                                              exercise))
    found = graded.as_dict()
    assert {b["mistake"] for b in found["blanks"]} == {None, "sign-flip"}
    assert found["first_error"]["propagated_into"]
    return found


def test_full_shows_the_result_as_stored(result):
    shown = shown_result(result, Feedback.FULL)
    assert shown == result
    assert shown is not result


def test_location_shows_which_blanks_are_wrong_and_nothing_of_why(result):
    shown = shown_result(result, Feedback.LOCATION)
    assert shown["score"] == result["score"]
    assert len(shown["blanks"]) == len(result["blanks"])
    for seen, stored in zip(shown["blanks"], result["blanks"], strict=True):
        for field in ("kind", "node", "status", "points", "max_points"):
            assert seen[field] == stored[field]
        assert seen["mistake"] is None
        assert seen["message"] == neutral_message(stored["status"])
    assert shown["first_error"] == {"kind": "forward", "node": "a"}
    text = json.dumps(shown)
    for revealing in ("sign-flip", "sign is wrong", "recompute", "carried", "propagated_into",
                      "your value of a"):
        assert revealing not in text


def test_location_keeps_the_input_of_a_local_blank():
    stored = {
        "score": 0.5,
        "blanks": [{"kind": "local", "node": "f", "input": "q", "status": "incorrect",
                    "points": 0.0, "max_points": 1.0, "mistake": "mul-not-swapped",
                    "message": "mul swaps its inputs"}],
        "first_error": {"kind": "local", "node": "f", "input": "q", "propagated_into": []},
    }
    shown = shown_result(stored, Feedback.LOCATION)
    assert shown["blanks"] == [{"kind": "local", "node": "f", "input": "q",
                                "status": "incorrect", "points": 0.0, "max_points": 1.0,
                                "mistake": None, "message": "incorrect"}]
    assert shown["first_error"] == {"kind": "local", "node": "f", "input": "q"}


def test_location_of_a_right_submission_has_no_first_error():
    stored = {"score": 1.0, "blanks": [], "first_error": None}
    assert shown_result(stored, Feedback.LOCATION) == stored


def test_score_shows_the_score_alone(result):
    assert shown_result(result, Feedback.SCORE) == {
        "score": result["score"], "blanks": None, "first_error": None}


@pytest.mark.parametrize("feedback", [Feedback.LOCATION, Feedback.SCORE])
def test_fields_a_result_gains_later_are_shown_in_full_only(result, feedback):
    stored = {**result, "summary": "Start fixing here: a (forward): recompute a = ..."}
    assert "summary" not in shown_result(stored, feedback)
    assert shown_result(stored, Feedback.FULL)["summary"] == stored["summary"]


@pytest.mark.parametrize(("status", "message"), [
    ("correct", "correct"), ("consistent", "consistent with your own earlier values"),
    ("incorrect", "incorrect"), ("missing", "no value given"), ("invalid", "not a number"),
])
def test_each_status_has_a_neutral_message(status, message):
    assert neutral_message(status) == message


def _record(result: dict) -> AttemptRecord:
    return AttemptRecord(1, 1, result, "branching", 1, 1, 7, datetime(2026, 1, 1, tzinfo=UTC))


def test_a_record_is_shown_under_a_policy_once(result):
    record = _record(result)
    assert record.shown_as(Feedback.FULL) is record
    located = record.shown_as(Feedback.LOCATION)
    assert located.feedback is Feedback.LOCATION
    assert located.result_data() == shown_result(result, Feedback.LOCATION)
    assert record.result_data() == result  # the stored result is left alone
    assert located.shown_as(Feedback.LOCATION) is located
    with pytest.raises(ValueError, match="only a full result"):
        located.shown_as(Feedback.SCORE)


# ---------------------------------------------------------------- the solution after due

NOW = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("after_due", "due_at", "reason"), [
    (False, NOW - timedelta(days=1), "does not show its solution"),
    (True, None, "has no due time"),
    (True, NOW + timedelta(seconds=1), "once the assignment is due, at 10 Jan 2030, 12:00 UTC"),
    (False, None, "does not show its solution"),
])
def test_a_solution_is_withheld(after_due, due_at, reason):
    assignment = Assignment(solution_after_due=after_due, due_at=due_at)
    with pytest.raises(SolutionNotReleased, match=reason):
        check_solution_released(assignment, NOW)


@pytest.mark.parametrize("due_at", [NOW, NOW - timedelta(days=30)])
def test_a_solution_is_released_from_the_due_time(due_at):
    check_solution_released(Assignment(solution_after_due=True, due_at=due_at), NOW)
