"""An assignment's feedback policy and its worked solution after the due time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

PROBLEM = "application/problem+json"


@pytest.fixture
def course(instructor, student, load_bundled):
    load_bundled("branching", "sigmoid-neuron-random")
    course_id = instructor.post("/api/v1/courses", json={"title": "CS 231"}).json["id"]
    enrolled = instructor.post(f"/api/v1/courses/{course_id}/enrollments", json={"user": "sam"})
    assert enrolled.status_code == 201, enrolled.json
    return course_id


def make_assignment(instructor, course_id, **fields):
    body = {"exercise": "branching", **fields}
    response = instructor.post(f"/api/v1/courses/{course_id}/assignments", json=body)
    assert response.status_code == 201, response.json
    return response.json


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def slipped(right: dict) -> dict:
    """Right answers with a slip at gate a carried forward, and df/dx's sign flipped."""
    answers = json.loads(json.dumps(right))
    answers["forward"].update(a=-5.0, ab=-5.0, f=-2.0)
    answers["backward"]["x"] = -answers["backward"]["x"]
    return answers


def submit(caller, assignment, answers, **kwargs):
    response = caller.post(f"/api/v1/assignments/{assignment}/attempts", json=answers, **kwargs)
    assert response.status_code == 201, response.json
    return response


def listed(caller, assignment, user=None):
    query = f"?user={user}" if user else ""
    response = caller.get(f"/api/v1/assignments/{assignment}/attempts{query}")
    assert response.status_code == 200, response.json
    return response.json


# ---------------------------------------------------------------- the fields


def test_an_assignment_shows_full_feedback_and_no_solution_by_default(instructor, course):
    created = make_assignment(instructor, course)
    assert created["feedback"] == "full"
    assert created["solution_after_due"] is False


def test_the_policy_is_set_at_creation_and_shown_everywhere(instructor, student, course):
    created = make_assignment(instructor, course, feedback="location",
                              solution_after_due=True, due_at=iso(timedelta(days=1)))
    assert (created["feedback"], created["solution_after_due"]) == ("location", True)
    for_student = student.get(f"/api/v1/courses/{course}/assignments").json[0]
    assert (for_student["feedback"], for_student["solution_after_due"]) == ("location", True)
    view = student.get(f"/api/v1/assignments/{created['id']}").json["assignment"]
    assert (view["feedback"], view["solution_after_due"]) == ("location", True)


@pytest.mark.parametrize(("fields", "pointer"), [
    ({"feedback": "hints"}, "/feedback"),
    ({"feedback": "FULL"}, "/feedback"),
    ({"feedback": None}, "/feedback"),
    ({"feedback": 1}, "/feedback"),
    ({"solution_after_due": "yes"}, "/solution_after_due"),
    ({"solution_after_due": 1}, "/solution_after_due"),
])
def test_unknown_policy_values_are_422_naming_the_field(instructor, course, fields, pointer):
    response = instructor.post(f"/api/v1/courses/{course}/assignments",
                               json={"exercise": "branching", **fields})
    assert response.status_code == 422, response.json
    assert response.mimetype == PROBLEM
    assert [e["pointer"] for e in response.json["errors"]] == [pointer]


# ---------------------------------------------------------------- what a student is shown


def test_full_feedback_shows_the_diagnosis(instructor, student, course, right_answers):
    assignment = make_assignment(instructor, course)["id"]
    view = student.get(f"/api/v1/assignments/{assignment}").json
    body = submit(student, assignment, slipped(right_answers(view))).json
    assert body["feedback"] == "full"
    assert "sign-flip" in {b["mistake"] for b in body["blanks"]}
    assert body["first_error"]["propagated_into"]


def test_location_feedback_shows_where_but_not_why(instructor, student, course,
                                                   right_answers):
    assignment = make_assignment(instructor, course, feedback="location",
                                 max_attempts=3)["id"]
    view = student.get(f"/api/v1/assignments/{assignment}").json
    headers = {"Idempotency-Key": "once"}
    first = submit(student, assignment, slipped(right_answers(view)), headers=headers)
    body = first.json
    assert body["feedback"] == "location"
    assert body["attempts_left"] == 2
    assert 0 < body["score"] < 1
    wrong = {(b["kind"], b["node"]) for b in body["blanks"] if b["status"] == "incorrect"}
    assert wrong == {("forward", "a"), ("backward", "x")}
    assert {b["mistake"] for b in body["blanks"]} == {None}
    assert {b["message"] for b in body["blanks"]} <= {
        "correct", "incorrect", "consistent with your own earlier values"}
    assert body["first_error"] == {"kind": "forward", "node": "a"}
    assert "sign-flip" not in json.dumps(body) and "carried" not in json.dumps(body)
    # The listing and a replay show the same; the instructor sees everything.
    assert listed(student, assignment) == [body]
    again = submit(student, assignment, slipped(right_answers(view)), headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == body
    (full,) = listed(instructor, assignment, user="sam")
    assert full["feedback"] == "full"
    assert full["score"] == body["score"]
    assert "sign-flip" in {b["mistake"] for b in full["blanks"]}
    assert full["first_error"]["propagated_into"]


def test_score_feedback_shows_the_score_and_attempts_alone(instructor, student, course,
                                                           right_answers):
    assignment = make_assignment(instructor, course, feedback="score", max_attempts=2)["id"]
    view = student.get(f"/api/v1/assignments/{assignment}").json
    body = submit(student, assignment, slipped(right_answers(view))).json
    assert body["feedback"] == "score"
    assert (body["blanks"], body["first_error"]) == (None, None)
    assert body["number"] == 1 and body["attempts_left"] == 1
    assert 0 < body["score"] < 1
    right = submit(student, assignment, right_answers(view)).json
    assert (right["score"], right["blanks"], right["attempts_left"]) == (1.0, None, 0)
    assert listed(student, assignment) == [body, right]
    assert student.get(f"/api/v1/assignments/{assignment}").json["attempts_used"] == 2
    shown = listed(instructor, assignment, user="sam")
    assert [a["feedback"] for a in shown] == ["full", "full"]
    assert all(a["blanks"] for a in shown)
    book = instructor.get(f"/api/v1/courses/{course}/grades").json
    assert book["students"][0]["best"] == {str(assignment): 1.0}


def test_course_staff_see_their_own_attempts_in_full(instructor, admin, course,
                                                     right_answers):
    assignment = make_assignment(instructor, course, feedback="score")["id"]
    for staff in (instructor, admin):
        view = staff.get(f"/api/v1/assignments/{assignment}").json
        body = submit(staff, assignment, slipped(right_answers(view))).json
        assert body["feedback"] == "full"
        assert body["blanks"]
        assert listed(staff, assignment)[0]["blanks"]


def test_practice_is_always_full(instructor, student, course, right_answers):
    # Once due: while it is open, practice of its fixed numbers is closed to sam.
    make_assignment(instructor, course, feedback="score", opens_at=iso(-timedelta(days=2)),
                    due_at=iso(-timedelta(days=1)))
    view = student.get("/api/v1/exercises/branching").json
    body = student.post("/api/v1/exercises/branching/attempts",
                        json=slipped(right_answers(view))).json
    assert body["feedback"] == "full"
    assert "sign-flip" in {b["mistake"] for b in body["blanks"]}
    assert student.get("/api/v1/exercises/branching/attempts").json == [body]


# ---------------------------------------------------------------- the solution after due


def solution(caller, assignment):
    return caller.get(f"/api/v1/assignments/{assignment}/solution")


def past_due(instructor, course, **fields):
    return make_assignment(instructor, course, opens_at=iso(-timedelta(days=2)),
                           due_at=iso(-timedelta(days=1)), **fields)["id"]


def test_a_student_reads_the_solution_of_their_variant_after_the_due_time(
        instructor, student, course):
    assignment = past_due(instructor, course, solution_after_due=True,
                          exercise="sigmoid-neuron-random")
    view = student.get(f"/api/v1/assignments/{assignment}").json
    response = solution(student, assignment)
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["assignment"], body["variant"], body["seed"]) == (
        assignment, view["variant"], view["seed"])
    assert body["inputs"] == view["inputs"]
    assert body["values"]["f"] and body["steps"]


@pytest.mark.parametrize(("fields", "reason"), [
    ({"solution_after_due": False, "due_at": iso(-timedelta(days=1)),
      "opens_at": iso(-timedelta(days=2))}, "does not show its solution"),
    ({"solution_after_due": True}, "has no due time"),
    ({"solution_after_due": True, "due_at": iso(timedelta(days=1))},
     "once the assignment is due"),
])
def test_the_solution_is_403_for_a_student_until_released(instructor, student, course,
                                                          fields, reason):
    assignment = make_assignment(instructor, course, **fields)["id"]
    student.get(f"/api/v1/assignments/{assignment}")
    response = solution(student, assignment)
    assert response.status_code == 403, response.json
    assert response.mimetype == PROBLEM
    assert response.json["type"].endswith("solution-not-released")
    assert reason in response.json["detail"]
    # The course's instructors may always read it.
    instructor.get(f"/api/v1/assignments/{assignment}")
    assert solution(instructor, assignment).status_code == 200


def test_the_solution_needs_a_variant(instructor, student, course):
    assignment = past_due(instructor, course, solution_after_due=True)
    missing = solution(student, assignment)
    assert missing.status_code == 404
    assert "open the assignment first" in missing.json["detail"]
    assert solution(instructor, assignment).status_code == 404
    student.get(f"/api/v1/assignments/{assignment}")
    assert solution(student, assignment).status_code == 200


def test_the_solution_is_for_the_enrolled_only(users, instructor, course):
    assignment = past_due(instructor, course, solution_after_due=True)
    outsider = users.add("olga")
    assert solution(outsider, assignment).status_code == 403
    assert solution(outsider, 999_999).status_code == 404
    assert solution(outsider, 10**30).status_code == 404
