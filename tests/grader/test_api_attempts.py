"""Practice attempts: grading, storage, idempotency, and every kind of bad input."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROBLEM = "application/problem+json"
SUBMIT = "/api/v1/exercises/sigmoid-neuron-random/attempts"


@pytest.fixture
def variant(student, load_bundled):
    load_bundled("sigmoid-neuron-random")
    return student.get("/api/v1/exercises/sigmoid-neuron-random").json


def test_right_answers_score_1(student, variant, right_answers):
    response = student.post(SUBMIT, json=right_answers(variant))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["score"] == 1.0
    assert body["first_error"] is None
    assert body["number"] == 1
    assert body["attempts_left"] is None
    assert body["variant"] == 1
    assert all(b["status"] == "correct" for b in body["blanks"])
    assert {"id", "number", "attempts_left", "score", "blanks", "first_error"} <= set(body)


def test_a_wrong_blank_is_located_and_never_revealed(student, variant, right_answers):
    answers = right_answers(variant)
    answers["forward"]["p0"] += 7.5
    body = student.post(SUBMIT, json=answers).json
    assert body["score"] < 1.0
    assert body["first_error"]["node"] == "p0"
    text = json.dumps(body)
    for blank in body["blanks"]:
        assert "reference" not in blank and "expected" not in blank
    assert "solution" not in text


def test_attempts_are_numbered_and_listed(student, variant, right_answers):
    for _ in range(3):
        assert student.post(SUBMIT, json=right_answers(variant)).status_code == 201
    listed = student.get(SUBMIT).json
    assert [a["number"] for a in listed] == [1, 2, 3]
    assert all(a["score"] == 1.0 for a in listed)


def test_missing_blanks_are_graded_as_missing(student, variant):
    response = student.post(SUBMIT, json={"forward": {}})
    assert response.status_code == 201
    assert response.json["score"] == 0.0
    assert {b["status"] for b in response.json["blanks"]} == {"missing"}


def test_idempotency_key_replays_the_first_result(student, variant, right_answers):
    headers = {"Idempotency-Key": "retry-1"}
    first = student.post(SUBMIT, json=right_answers(variant), headers=headers)
    again = student.post(SUBMIT, json=right_answers(variant), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(student.get(SUBMIT).json) == 1


def test_idempotency_key_reused_for_another_body_is_422(student, variant, right_answers):
    headers = {"Idempotency-Key": "retry-2"}
    assert student.post(SUBMIT, json=right_answers(variant), headers=headers).status_code == 201
    response = student.post(SUBMIT, json={"forward": {}}, headers=headers)
    assert response.status_code == 422
    assert response.json["errors"][0]["header"] == "Idempotency-Key"


def test_idempotency_keys_are_per_user(users, student, variant, load_bundled):
    other = users.add("olga")
    headers = {"Idempotency-Key": "same"}
    assert student.post(SUBMIT, json={"forward": {}}, headers=headers).status_code == 201
    assert other.post(SUBMIT, json={"forward": {}}, headers=headers).status_code == 201
    assert other.post(SUBMIT, json={"forward": {}}, headers=headers).headers.get(
        "Idempotent-Replayed") == "true"


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "bad\x01key"])
def test_invalid_idempotency_keys_are_400(student, variant, key):
    response = student.post(SUBMIT, json={"forward": {}}, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.mimetype == PROBLEM


def teach(instructor, *usernames):
    """A course taught by `instructor` with these users enrolled."""
    course = instructor.post("/api/v1/courses", json={"title": "Course"}).json["id"]
    for username in usernames:
        enrolled = instructor.post(f"/api/v1/courses/{course}/enrollments",
                                   json={"user": username})
        assert enrolled.status_code == 201, enrolled.json
    return course


def test_instructor_may_list_their_students_attempts(instructor, student, variant):
    teach(instructor, "sam")
    student.post(SUBMIT, json={"forward": {}})
    assert len(instructor.get(SUBMIT + "?user=sam").json) == 1


def test_instructor_may_not_list_attempts_of_users_outside_their_courses(
        users, instructor, student, variant):
    student.post(SUBMIT, json={"forward": {}})
    assert instructor.get(SUBMIT + "?user=sam").status_code == 403  # teaches nothing
    other = users.add("otto", "instructor")
    teach(other, "sam")
    assert instructor.get(SUBMIT + "?user=sam").status_code == 403  # sam is otto's
    assert instructor.get(SUBMIT + "?user=ghost").status_code == 403  # no probing names
    # Otto sees sam's practice from when sam joined his course, not what came before.
    assert other.get(SUBMIT + "?user=sam").json == []
    student.post(SUBMIT, json={"forward": {}})
    assert [a["number"] for a in other.get(SUBMIT + "?user=sam").json] == [2]
    assert len(instructor.get(SUBMIT + "?user=ines").json) == 0  # oneself: always


def test_admin_may_list_anyones_attempts(admin, student, variant):
    student.post(SUBMIT, json={"forward": {}})
    assert len(admin.get(SUBMIT + "?user=sam").json) == 1
    assert admin.get(SUBMIT + "?user=ghost").status_code == 404


def test_student_may_not_list_another_users_attempts(users, student, variant):
    other = users.add("olga")
    response = other.get(SUBMIT + "?user=sam")
    assert response.status_code == 403


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("body", "status"), [
    (b"{", 400),
    (b"not json", 400),
    (b"", 400),
    (b"\xff\xfe{}", 400),
    (b"[" * 100_000 + b"]" * 100_000, 400),
    (b"[]", 422),
    (b"42", 422),
    (b"null", 422),
    (b'{"forward": []}', 422),
    (b'{"forward": {"p0": 1}, "extra": {}}', 422),
    (b'{"forward": {"nope": 1}}', 422),
    (b'{"forward": {"w0": 1}}', 422),
    (b'{"local": {"p0": {"zz": 1}}}', 422),
    (b'{"local": {"p0": 3}}', 422),
    (b'{"forward": {"p0": NaN}}', 422),
    (b'{"forward": {"p0": Infinity}}', 422),
    (b'{"forward": {"p0": -Infinity}}', 422),
    (b'{"forward": {"p0": 1e999}}', 422),
    (b'{"forward": {"p0": "1.5"}}', 422),
    (b'{"forward": {"p0": true}}', 422),
    (b'{"forward": {"p0": [1]}}', 422),
    (b'{"forward": {"p0": 1' + b"0" * 5000 + b"}}", 422),
])
def test_bad_bodies_get_problem_responses(student, variant, body, status):
    response = student.post(SUBMIT, data=body, content_type="application/json")
    assert response.status_code == status, response.json
    assert response.mimetype == PROBLEM
    assert response.json["status"] == status
    if status == 422:
        assert response.json["errors"], response.json
        assert all(e["pointer"].startswith("/") or e["pointer"] == ""
                   for e in response.json["errors"])
    assert student.get(SUBMIT).json == []  # nothing stored


def test_a_format_error_is_located(student, variant):
    response = student.post(SUBMIT, data=b'{"forward": {"p0": NaN}}',
                            content_type="application/json")
    assert response.json["errors"][0]["pointer"] == "/forward/p0"


def test_wrong_content_type_is_415(student, variant):
    response = student.post(SUBMIT, data="forward=1", content_type="text/plain")
    assert response.status_code == 415
    assert response.mimetype == PROBLEM


def test_huge_body_is_413(student, variant):
    body = b'{"forward": {"p0": ' + b" " * 2_000_000 + b"1}}"
    response = student.post(SUBMIT, data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.mimetype == PROBLEM
    assert student.get(SUBMIT).json == []


def test_unauthenticated_submission_is_401_before_the_body_is_read(client, variant):
    response = client.post(SUBMIT, data=b"{", content_type="application/json")
    assert response.status_code == 401


def test_submission_to_unknown_exercise_is_404(student):
    response = student.post("/api/v1/exercises/nope/attempts", json={"forward": {}})
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/exercises/%00", "/api/v1/exercises/" + "a" * 5000,
                                  "/api/v1/exercises/UPPER", "/api/v1/exercises/%F0%9F%98%80",
                                  "/api/v1/exercises/a%00b/attempts"])
def test_impossible_exercise_ids_are_404(student, path):
    response = student.get(path)
    assert response.status_code == 404
    assert response.mimetype == PROBLEM


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
node_ids = st.sampled_from(["p0", "p1", "s", "f", "w0", "nope", ""])
submission_like = st.fixed_dictionaries({}, optional={
    "forward": st.dictionaries(node_ids, json_values, max_size=4),
    "backward": st.dictionaries(node_ids, json_values, max_size=4),
    "local": st.dictionaries(node_ids, st.dictionaries(node_ids, json_values, max_size=3)
                             | json_values, max_size=3),
    "other": json_values,
})


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(json_values, submission_like))
def test_no_body_ever_gets_a_500(student, variant, body):
    data = json.dumps(body, allow_nan=True).encode()
    response = student.post(SUBMIT, data=data, content_type="application/json")
    assert response.status_code in (201, 422), (body, response.json)
    if response.status_code == 422:
        assert response.mimetype == PROBLEM
        assert response.json["errors"]


@pytest.mark.parametrize("depth", [33, 900, 5000])
def test_deeply_nested_json_is_400(student, variant, depth):
    body = b'{"forward": ' + b"[" * depth + b"]" * depth + b"}"
    response = student.post(SUBMIT, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == PROBLEM


def test_null_body_is_a_validation_error(student, variant):
    response = student.post(SUBMIT, data=b"null", content_type="application/json")
    assert response.status_code == 422


# ---------------------------------------------------------------- size limits


def chunked_post(caller, path, body: bytes, content_type="application/json", method="POST"):
    """A body sent with Transfer-Encoding: chunked (no Content-Length), as gunicorn
    hands it to the app: a stream the server terminates."""
    return caller.client.open(
        path, method=method, input_stream=io.BytesIO(body), content_type=content_type,
        headers={"Authorization": f"Bearer {caller.token}", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})


def test_chunked_body_over_the_limit_is_413_not_truncated(student, variant, app):
    limit = app.config["MAX_BODY_BYTES"]
    body = b'{"forward": {"p0": 1}}' + b" " * (3 * limit)
    response = chunked_post(student, SUBMIT, body)
    assert response.status_code == 413, response.json
    assert response.mimetype == PROBLEM
    assert str(limit) in response.json["detail"]
    assert student.get(SUBMIT).json == []


def test_chunked_body_one_byte_over_the_limit_is_413(student, variant, app):
    limit = app.config["MAX_BODY_BYTES"]
    body = b'{"forward": {"p0": 1}}'
    assert chunked_post(student, SUBMIT, body + b" " * (limit + 1 - len(body))).status_code == 413
    assert student.get(SUBMIT).json == []


def test_chunked_body_at_the_limit_is_read(student, variant, app):
    limit = app.config["MAX_BODY_BYTES"]
    body = b'{"forward": {"p0": 1}}'
    response = chunked_post(student, SUBMIT, body + b" " * (limit - len(body)))
    assert response.status_code == 201, response.json
    small = chunked_post(student, SUBMIT, body)
    assert small.status_code == 201, small.json


def test_chunked_yaml_over_the_limit_is_413(instructor, bundled, app):
    text = bundled("branching").encode() + b"#" * app.config["MAX_BODY_BYTES"] * 2
    response = chunked_post(instructor, "/api/v1/exercises/branching", text,
                            content_type="application/yaml", method="PUT")
    assert response.status_code == 413
    assert response.mimetype == PROBLEM


def test_a_long_list_of_field_errors_is_capped(student, variant):
    body = {"forward": {f"nope{n}": 1 for n in range(5000)}}
    response = student.post(SUBMIT, json=body)
    assert response.status_code == 422
    assert len(response.json["errors"]) == 100
    assert response.json["errors_omitted"] == 4900
    assert len(response.data) < 20_000


def test_the_submit_response_is_the_attempt_as_listed(student, variant, right_answers):
    # The submit path writes its response from the stored result's JSON text; the list
    # builds it from the model: the two agree, byte for byte.
    answers = right_answers(variant)
    answers["forward"][next(iter(answers["forward"]))] += 5.0  # a slip: the full result
    for body in (right_answers(variant), answers):
        submitted = student.post(SUBMIT, json=body)
        assert submitted.status_code == 201
        listed = [a for a in student.get(SUBMIT).json if a["id"] == submitted.json["id"]]
        assert json.dumps(submitted.json) == json.dumps(listed[0])


def test_submits_run_in_autocommit_on_their_own_pool_and_the_rest_in_transactions(
        app, student, instructor, variant, right_answers, is_postgres):
    from sqlalchemy import event

    from grader import sessions

    main, autocommit = sessions.engines(app)
    seen: set[tuple[str, str]] = set()

    def record(connection, cursor, statement, *args):
        pool = "autocommit" if connection.engine is autocommit else "main"
        seen.add((pool, statement.split("(")[0].strip()))

    for engine in (main, autocommit):
        event.listen(engine, "before_cursor_execute", record)
    assert student.post(SUBMIT, json=right_answers(variant)).status_code == 201
    assert instructor.post("/api/v1/courses", json={"title": "T"}).status_code == 201
    for engine in (main, autocommit):
        event.remove(engine, "before_cursor_execute", record)
    assert ("autocommit", "INSERT INTO attempts") in seen
    assert ("main", "INSERT INTO attempts") not in seen
    assert ("main", "INSERT INTO courses") in seen
    assert ("autocommit", "INSERT INTO courses") not in seen
    if is_postgres:  # psycopg: returned to the pool still in autocommit, the rest not
        with autocommit.connect() as connection:
            assert connection.connection.dbapi_connection.autocommit is True
        with main.connect() as connection:
            assert connection.connection.dbapi_connection.autocommit is False
