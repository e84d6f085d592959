"""Courses, enrollments, assignments, assignment attempts and the gradebook."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

PROBLEM = "application/problem+json"


@pytest.fixture
def course(instructor, student, load_bundled):
    load_bundled("sigmoid-neuron-random", "branching")
    created = instructor.post("/api/v1/courses", json={"title": "CS 231"})
    assert created.status_code == 201, created.json
    course_id = created.json["id"]
    enrolled = instructor.post(f"/api/v1/courses/{course_id}/enrollments",
                               json={"user": "sam"})
    assert enrolled.status_code == 201, enrolled.json
    return course_id


def make_assignment(instructor, course_id, **fields):
    body = {"exercise": "sigmoid-neuron-random", **fields}
    response = instructor.post(f"/api/v1/courses/{course_id}/assignments", json=body)
    assert response.status_code == 201, response.json
    return response.json["id"]


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def test_course_creator_is_its_instructor(instructor, course):
    listed = instructor.get("/api/v1/courses").json
    assert listed[0]["id"] == course
    assert listed[0]["role"] == "instructor"
    enrollments = instructor.get(f"/api/v1/courses/{course}/enrollments").json
    assert {(e["user"], e["role"]) for e in enrollments} == {("ines", "instructor"),
                                                              ("sam", "student")}


def test_students_may_not_create_courses(student):
    response = student.post("/api/v1/courses", json={"title": "Mine"})
    assert response.status_code == 403
    assert response.mimetype == PROBLEM


@pytest.mark.parametrize("body", [{}, {"title": ""}, {"title": 5}, {"title": "x" * 201},
                                  {"title": "ok", "extra": 1}])
def test_course_body_is_validated(instructor, body):
    response = instructor.post("/api/v1/courses", json=body)
    assert response.status_code == 422
    assert response.json["errors"]


def test_enrollment_problems(instructor, users, course):
    assert instructor.post(f"/api/v1/courses/{course}/enrollments",
                           json={"user": "sam"}).status_code == 409
    bad_role = instructor.post(f"/api/v1/courses/{course}/enrollments",
                               json={"user": "sam", "role": "dean"})
    assert bad_role.status_code == 422


def test_only_the_course_instructor_manages_it(users, course, student):
    other = users.add("otto", "instructor")
    assert other.post(f"/api/v1/courses/{course}/enrollments",
                      json={"user": "sam"}).status_code == 403
    assert student.post(f"/api/v1/courses/{course}/assignments",
                        json={"exercise": "branching"}).status_code == 403
    assert student.get(f"/api/v1/courses/{course}/grades").status_code == 403
    assert student.get(f"/api/v1/courses/{course}/enrollments").status_code == 403


def test_admin_may_do_everything(admin, course):
    assert admin.get(f"/api/v1/courses/{course}/grades").status_code == 200
    assert any(c["id"] == course for c in admin.get("/api/v1/courses").json)


def test_unknown_course_is_404_and_huge_ids_do_not_crash(instructor):
    assert instructor.get("/api/v1/courses/999").status_code == 404
    assert instructor.get("/api/v1/courses/99999999999999999999999").status_code == 404
    assert instructor.get("/api/v1/courses/-1").status_code == 404
    assert instructor.get("/api/v1/assignments/99999999999999999999").status_code == 404


@pytest.mark.parametrize("fields", [
    {"max_attempts": 0}, {"max_attempts": -3}, {"max_attempts": 10**30},
    {"max_attempts": "three"}, {"opens_at": "yesterday"},
    {"opens_at": "2030-01-01T00:00:00"},  # no time zone
    {"opens_at": "2030-01-02T00:00:00Z", "due_at": "2030-01-01T00:00:00Z"},
    {"exercise": "no-such-exercise"}, {"exercise": "Bad Id"},
    {"new_variant_each_attempt": "maybe"},
])
def test_assignment_body_is_validated(instructor, course, fields):
    body = {"exercise": "branching", **fields}
    response = instructor.post(f"/api/v1/courses/{course}/assignments", json=body)
    assert response.status_code == 422, response.json
    assert response.mimetype == PROBLEM


def test_students_see_the_course_assignments(instructor, student, course):
    assignment = make_assignment(instructor, course, max_attempts=3)
    listed = student.get(f"/api/v1/courses/{course}/assignments").json
    assert [a["id"] for a in listed] == [assignment]
    assert listed[0]["max_attempts"] == 3


def test_assignment_variant_and_attempts(instructor, student, course, right_answers):
    assignment = make_assignment(instructor, course, max_attempts=2)
    view = student.get(f"/api/v1/assignments/{assignment}")
    assert view.status_code == 200
    assert view.json["attempts_used"] == 0
    assert view.json["attempts_left"] == 2
    assert "values" not in view.json
    first = student.post(f"/api/v1/assignments/{assignment}/attempts",
                         json=right_answers(view.json))
    assert first.status_code == 201, first.json
    assert first.json["score"] == 1.0
    assert first.json["number"] == 1
    assert first.json["attempts_left"] == 1
    assert first.json["assignment"] == assignment
    second = student.post(f"/api/v1/assignments/{assignment}/attempts", json={"forward": {}})
    assert second.json["attempts_left"] == 0
    third = student.post(f"/api/v1/assignments/{assignment}/attempts", json={"forward": {}})
    assert third.status_code == 409
    assert third.mimetype == PROBLEM
    listed = student.get(f"/api/v1/assignments/{assignment}/attempts").json
    assert [a["number"] for a in listed] == [1, 2]
    assert student.get(f"/api/v1/assignments/{assignment}").json["attempts_left"] == 0


def test_a_malformed_submission_uses_no_attempt(instructor, student, course):
    assignment = make_assignment(instructor, course, max_attempts=1)
    url = f"/api/v1/assignments/{assignment}/attempts"
    bad = student.post(url, data=b'{"forward": {"p0": NaN}}', content_type="application/json")
    assert bad.status_code == 422
    assert student.post(url, json={"forward": {"nope": 1}}).status_code == 422
    assert student.post(url, json={"forward": {}}).status_code == 201


def test_replayed_attempt_is_not_refused_when_none_are_left(instructor, student, course):
    assignment = make_assignment(instructor, course, max_attempts=1)
    url = f"/api/v1/assignments/{assignment}/attempts"
    headers = {"Idempotency-Key": "k1"}
    first = student.post(url, json={"forward": {}}, headers=headers)
    again = student.post(url, json={"forward": {}}, headers=headers)
    assert again.status_code == 201
    assert again.json == first.json


def test_window_is_enforced(instructor, student, course):
    later = make_assignment(instructor, course, opens_at=iso(timedelta(hours=1)))
    assert student.get(f"/api/v1/assignments/{later}").status_code == 403
    assert student.post(f"/api/v1/assignments/{later}/attempts",
                        json={"forward": {}}).status_code == 403
    # Course staff may look before it opens.
    assert instructor.get(f"/api/v1/assignments/{later}").status_code == 200
    past = make_assignment(instructor, course, opens_at=iso(-timedelta(hours=2)),
                           due_at=iso(-timedelta(hours=1)))
    assert student.get(f"/api/v1/assignments/{past}").status_code == 200
    closed = student.post(f"/api/v1/assignments/{past}/attempts", json={"forward": {}})
    assert closed.status_code == 403
    assert closed.json["type"].endswith("assignment-closed")


def test_not_enrolled_is_403(users, instructor, course):
    assignment = make_assignment(instructor, course)
    outsider = users.add("olga")
    assert outsider.get(f"/api/v1/assignments/{assignment}").status_code == 403
    assert outsider.post(f"/api/v1/assignments/{assignment}/attempts",
                         json={"forward": {}}).status_code == 403
    assert outsider.get(f"/api/v1/courses/{course}/assignments").status_code == 403


def test_students_may_not_see_other_students_attempts(users, instructor, student, course):
    assignment = make_assignment(instructor, course)
    other = users.add("olga")
    instructor.post(f"/api/v1/courses/{course}/enrollments", json={"user": "olga"})
    student.post(f"/api/v1/assignments/{assignment}/attempts", json={"forward": {}})
    url = f"/api/v1/assignments/{assignment}/attempts?user=sam"
    assert other.get(url).status_code == 403
    assert len(instructor.get(url).json) == 1


def test_fresh_variant_each_attempt(instructor, student, course, right_answers):
    assignment = make_assignment(instructor, course, new_variant_each_attempt=True)
    url = f"/api/v1/assignments/{assignment}"
    first = student.get(url).json
    assert student.get(url).json["variant"] == 1
    assert student.post(f"{url}/attempts", json=right_answers(first)).status_code == 201
    answered = student.post(f"{url}/attempts", json={"forward": {}})
    assert answered.status_code == 409  # fetch the new variant first
    second = student.get(url).json
    assert second["variant"] == 2
    result = student.post(f"{url}/attempts", json=right_answers(second))
    assert result.json["variant"] == 2


def test_assignment_pins_the_exercise_version(admin, instructor, student, course, bundled):
    assignment = make_assignment(instructor, course)

    edited = bundled("sigmoid-neuron-random").replace("title: Sigmoid", "title: Edited")
    assert admin.put_yaml("sigmoid-neuron-random", edited).json["version"] == 2
    assert student.get(f"/api/v1/assignments/{assignment}").json["version"] == 1


def test_gradebook_json_and_csv(users, instructor, student, course, right_answers):
    assignment = make_assignment(instructor, course)
    users.add("olga")
    instructor.post(f"/api/v1/courses/{course}/enrollments", json={"user": "olga"})
    view = student.get(f"/api/v1/assignments/{assignment}").json
    url = f"/api/v1/assignments/{assignment}/attempts"
    student.post(url, json={"forward": {}})
    student.post(url, json=right_answers(view))
    book = instructor.get(f"/api/v1/courses/{course}/grades").json
    assert book["assignments"][0]["id"] == assignment
    rows = {s["user"]: s for s in book["students"]}
    assert rows["sam"]["best"] == {str(assignment): 1.0}
    assert rows["sam"]["attempts"] == {str(assignment): 2}
    assert rows["olga"]["best"] == {str(assignment): None}
    assert "ines" not in rows
    response = instructor.get(f"/api/v1/courses/{course}/grades",
                              headers={"Accept": "text/csv"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0][0] == "user"
    assert table[1:] == [["olga", ""], ["sam", "1"]]


def test_the_latest_attempt_counts_where_the_assignment_says_so(instructor, student, course,
                                                                 right_answers):
    assignment = make_assignment(instructor, course, score_policy="latest")
    assert instructor.get(f"/api/v1/assignments/{assignment}").json["assignment"][
        "score_policy"] == "latest"
    view = student.get(f"/api/v1/assignments/{assignment}").json
    url = f"/api/v1/assignments/{assignment}/attempts"
    student.post(url, json=right_answers(view))
    student.post(url, json={"forward": {}})  # the latest: nothing right
    book = instructor.get(f"/api/v1/courses/{course}/grades").json
    assert book["assignments"][0]["score_policy"] == "latest"
    [row] = [s for s in book["students"] if s["user"] == "sam"]
    assert row["score"] == {str(assignment): 0.0} and row["best"] == {str(assignment): 1.0}
    table = list(csv.reader(io.StringIO(instructor.get(
        f"/api/v1/courses/{course}/grades", headers={"Accept": "text/csv"}).text)))
    assert ["sam", "0"] in table
    refused = instructor.post(f"/api/v1/courses/{course}/assignments",
                              json={"exercise": "sigmoid-neuron-random", "score_policy": "worst"})
    assert refused.status_code == 422


def test_csv_cells_cannot_start_a_formula(users, instructor, course):
    users.add("@evil", "student")
    instructor.post(f"/api/v1/courses/{course}/enrollments", json={"user": "+evil"})
    from grader.api.courses import safe_cell

    assert safe_cell("=cmd()") == "'=cmd()"
    assert safe_cell("sam") == "sam"


# ---------------------------------------------------------------- times, types, text


@pytest.mark.parametrize(("fields", "pointer"), [
    ({"due_at": "9999-12-31T23:59:59-10:00"}, "/due_at"),  # year 10000 in UTC
    ({"opens_at": "0001-01-01T00:00:00+10:00"}, "/opens_at"),  # year 0 in UTC
    ({"opens_at": "1969-12-31T23:59:59Z"}, "/opens_at"),
])
def test_out_of_range_times_are_422_not_500(instructor, course, fields, pointer):
    response = instructor.post(f"/api/v1/courses/{course}/assignments",
                               json={"exercise": "branching", **fields})
    assert response.status_code == 422, response.json
    assert response.mimetype == PROBLEM
    assert [e["pointer"] for e in response.json["errors"]] == [pointer]


def test_times_are_stored_and_answered_in_utc(instructor, course):
    response = instructor.post(f"/api/v1/courses/{course}/assignments", json={
        "exercise": "branching", "opens_at": "2030-01-01T10:00:00+10:00",
        "due_at": "9999-12-31T23:59:59Z"})
    assert response.status_code == 201, response.json
    assert response.json["opens_at"] == "2030-01-01T00:00:00Z"
    assert response.json["due_at"] == "9999-12-31T23:59:59Z"
    listed = instructor.get(f"/api/v1/courses/{course}/assignments").json
    assert listed[0]["opens_at"] == "2030-01-01T00:00:00Z"


@pytest.mark.parametrize("due_at", ["2030-01-01T00:00:00Z", "2029-12-31T00:00:00Z",
                                    "2030-01-01T01:00:00+01:00"])  # the same instant
def test_opens_at_must_be_before_due_at(instructor, course, due_at):
    response = instructor.post(f"/api/v1/courses/{course}/assignments", json={
        "exercise": "branching", "opens_at": "2030-01-01T00:00:00Z", "due_at": due_at})
    assert response.status_code == 422, response.json
    assert [e["pointer"] for e in response.json["errors"]] == ["/due_at"]


@pytest.mark.parametrize(("fields", "pointer"), [
    ({"max_attempts": "3"}, "/max_attempts"),
    ({"max_attempts": True}, "/max_attempts"),
    ({"max_attempts": 3.0}, "/max_attempts"),
    ({"new_variant_each_attempt": "yes"}, "/new_variant_each_attempt"),
    ({"new_variant_each_attempt": 1}, "/new_variant_each_attempt"),
    ({"due_at": 1900000000}, "/due_at"),
    ({"due_at": "1900000000"}, "/due_at"),
    ({"due_at": 1900000000.5}, "/due_at"),
    ({"opens_at": "2030-01-01"}, "/opens_at"),
])
def test_wrong_types_are_not_coerced(instructor, course, fields, pointer):
    response = instructor.post(f"/api/v1/courses/{course}/assignments",
                               json={"exercise": "branching", **fields})
    assert response.status_code == 422, response.json
    assert [e["pointer"] for e in response.json["errors"]] == [pointer]


def test_strict_types_still_accept_the_right_ones(instructor, course):
    response = instructor.post(f"/api/v1/courses/{course}/assignments", json={
        "exercise": "branching", "max_attempts": 3, "new_variant_each_attempt": True,
        "opens_at": "2030-01-01T00:00:00Z", "due_at": "2030-01-02 00:00:00+00:00"})
    assert response.status_code == 201, response.json
    assert response.json["max_attempts"] == 3
    assert response.json["new_variant_each_attempt"] is True


@pytest.mark.parametrize("title", ["a\u0000b", "bell\u0007", "two\nlines", "tab\tbed",
                                   "del\u007f", "c1\u0085c1", "\ud800"])
def test_control_characters_in_a_title_are_422(instructor, title):
    response = instructor.post("/api/v1/courses", json={"title": title})
    assert response.status_code == 422, response.json
    assert response.mimetype == PROBLEM
    assert [e["pointer"] for e in response.json["errors"]] == ["/title"]


@pytest.mark.parametrize("user", ["sam\u0000", "sam\n", "\u0000"])
def test_control_characters_in_a_username_are_422(instructor, course, user):
    response = instructor.post(f"/api/v1/courses/{course}/enrollments", json={"user": user})
    assert response.status_code == 422, response.json
    assert [e["pointer"] for e in response.json["errors"]] == ["/user"]


def test_unicode_titles_are_kept(instructor):
    response = instructor.post("/api/v1/courses", json={"title": "  Réseaux 🧠 2030  "})
    assert response.status_code == 201
    assert response.json["title"] == "Réseaux 🧠 2030"


# ---------------------------------------------------------------- role before body


def test_a_student_gets_403_before_the_course_body_is_read(student):
    assert student.post("/api/v1/courses", json={}).status_code == 403
    assert student.post("/api/v1/courses", data=b"{nope",
                        content_type="application/json").status_code == 403
    assert student.post("/api/v1/courses", data=b"title=x",
                        content_type="text/plain").status_code == 403


def test_a_student_gets_403_before_enrollment_and_assignment_bodies(student, course):
    assert student.post(f"/api/v1/courses/{course}/enrollments",
                        json={"user": 5}).status_code == 403
    assert student.post(f"/api/v1/courses/{course}/assignments",
                        json={"max_attempts": "x"}).status_code == 403
