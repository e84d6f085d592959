"""The exercise bank: listing, variants, uploads and worked solutions."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"

EXAM_ITEM = """\
id: exam-item
title: An exam item
inputs: {x: 2.0, y: 3.0}
nodes:
  - {id: p, op: mul, in: [x, y]}
output: p
practice: false
"""


def test_students_see_practice_exercises(student, load_bundled):
    load_bundled("sigmoid-neuron", "branching")
    response = student.get("/api/v1/exercises")
    assert response.status_code == 200
    assert [e["id"] for e in response.json] == ["branching", "sigmoid-neuron"]
    assert response.json[0] == {"id": "branching", "title": response.json[0]["title"],
                                "version": 1, "practice": True}


def test_exam_items_are_hidden_from_students(student, instructor):
    assert instructor.put_yaml("exam-item", EXAM_ITEM).status_code == 201
    assert student.get("/api/v1/exercises").json == []
    assert [e["id"] for e in instructor.get("/api/v1/exercises").json] == ["exam-item"]
    response = student.get("/api/v1/exercises/exam-item")
    assert response.status_code == 403
    assert response.mimetype == PROBLEM


def test_variant_has_structure_and_inputs_but_no_reference_values(student, load_bundled):
    load_bundled("sigmoid-neuron-random")
    response = student.get("/api/v1/exercises/sigmoid-neuron-random")
    assert response.status_code == 200
    variant = response.json
    assert variant["exercise"] == "sigmoid-neuron-random"
    assert variant["variant"] == 1
    assert isinstance(variant["seed"], int)
    assert set(variant["inputs"]) == {"w0", "x0", "w1", "x1", "w2"}
    assert variant["nodes"][0] == {"id": "p0", "op": "mul", "in": ["w0", "x0"], "params": {}}
    assert {"from": "w0", "to": "p0", "slot": 0} in variant["edges"]
    assert variant["output"] == "f"
    assert variant["ask"] == ["forward", "backward", "local"]
    assert variant["tolerance"]["rel"] > 0
    for forbidden in ("values", "grads", "steps", "solution"):
        assert forbidden not in variant
    # The same variant on every visit.
    assert student.get("/api/v1/exercises/sigmoid-neuron-random").json == variant


def test_fresh_variant_on_request(student, load_bundled):
    load_bundled("sigmoid-neuron-random")
    first = student.get("/api/v1/exercises/sigmoid-neuron-random").json
    response = student.post("/api/v1/exercises/sigmoid-neuron-random/variants")
    assert response.status_code == 201
    assert response.json["variant"] == 2
    assert student.get("/api/v1/exercises/sigmoid-neuron-random").json["variant"] == 2
    assert first["variant"] == 1


def test_unknown_exercise_is_404(student):
    response = student.get("/api/v1/exercises/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM


def test_put_creates_then_versions_then_is_idempotent(instructor, bundled):
    text = bundled("branching")
    created = instructor.put_yaml("branching", text)
    assert created.status_code == 201
    assert created.json["version"] == 1
    assert created.json["created"] is True
    same = instructor.put_yaml("branching", text)
    assert same.status_code == 200
    assert same.json == {**created.json, "created": False}
    edited = instructor.put_yaml("branching", text.replace("x: 3.0", "x: 4.0"))
    assert edited.status_code == 200
    assert edited.json["version"] == 2
    assert edited.json["created"] is True
    assert instructor.get("/api/v1/exercises/branching").json["inputs"]["x"] == 4.0


def test_put_rejects_invalid_yaml_with_located_errors(instructor, bundled):
    text = bundled("branching").replace("op: max", "op: maxx")
    response = instructor.put_yaml("branching", text)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    error = response.json["errors"][0]
    assert error["line"] is not None
    assert error["node"] == "c"
    assert "maxx" in error["detail"]


@pytest.mark.parametrize("text", ["", "\n", ": : :", "[1, 2", "just text", "- a\n- b\n",
                                  "a: &x 1\nb: *x\n", "\x00\x01"])
def test_put_rejects_garbage_with_422(instructor, text):
    response = instructor.put_yaml("whatever", text)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert response.json["errors"]


def test_put_never_reads_a_path(instructor):
    response = instructor.put_yaml("whatever", "/etc/passwd")
    assert response.status_code == 422
    assert all("root:" not in e["detail"] for e in response.json["errors"])
    assert all(e["file"] == "<text>" for e in response.json["errors"])


def test_put_requires_matching_id(instructor, bundled):
    response = instructor.put_yaml("other-id", bundled("branching"))
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "id"


def test_put_requires_yaml_content_type(instructor, bundled):
    response = instructor.put("/api/v1/exercises/branching", data=bundled("branching"),
                              content_type="application/json")
    assert response.status_code == 415


def test_put_rejects_non_utf8(instructor):
    response = instructor.put("/api/v1/exercises/x", data=b"id: \xff\xfe",
                              content_type="application/yaml")
    assert response.status_code == 400


def test_put_rejects_an_exercise_whose_fixed_inputs_hit_a_domain_error(instructor, bundled):
    text = bundled("rule-inv")
    broken = "id: zero-inv\ntitle: t\ninputs: {x: 0.0}\nnodes:\n  - {id: f, op: inv, in: [x]}\n"
    broken += "output: f\n"
    assert "inv" in text
    response = instructor.put_yaml("zero-inv", broken)
    assert response.status_code == 422
    assert response.json["errors"][0]["node"] == "f"


def test_students_may_not_upload(student, bundled):
    response = student.put_yaml("branching", bundled("branching"))
    assert response.status_code == 403
    assert response.mimetype == PROBLEM


def test_only_owner_or_admin_may_version(users, instructor, admin, bundled):
    other = users.add("otto", "instructor")
    assert instructor.put_yaml("branching", bundled("branching")).status_code == 201
    edited = bundled("branching").replace("x: 3.0", "x: 5.0")
    assert other.put_yaml("branching", edited).status_code == 403
    assert admin.put_yaml("branching", edited).status_code == 200


def test_bundled_exercises_are_admin_only_to_edit(instructor, admin, load_bundled, bundled):
    load_bundled("branching")
    edited = bundled("branching").replace("x: 3.0", "x: 5.0")
    assert instructor.put_yaml("branching", edited).status_code == 403
    assert admin.put_yaml("branching", edited).status_code == 200


def test_solution_for_a_seed(instructor, load_bundled):
    load_bundled("sigmoid-neuron-random")
    response = instructor.get("/api/v1/exercises/sigmoid-neuron-random/solution?seed=7")
    assert response.status_code == 200
    body = response.json
    assert body["seed"] == 7
    assert set(body["values"]) >= {"w0", "f"}
    assert body["grads"]["f"] == 1.0
    assert body["steps"][0]["node"]


def teach(instructor, username):
    course = instructor.post("/api/v1/courses", json={"title": "Course"}).json["id"]
    assert instructor.post(f"/api/v1/courses/{course}/enrollments",
                           json={"user": username}).status_code == 201


def test_solution_for_a_users_variant(instructor, student, load_bundled):
    load_bundled("sigmoid-neuron-random")
    teach(instructor, "sam")
    variant = student.get("/api/v1/exercises/sigmoid-neuron-random").json
    response = instructor.get("/api/v1/exercises/sigmoid-neuron-random/solution?user=sam")
    assert response.status_code == 200
    assert response.json["inputs"] == variant["inputs"]
    assert response.json["seed"] == variant["seed"]


def test_solution_needs_an_existing_variant(instructor, student, load_bundled):
    load_bundled("sigmoid-neuron-random")
    teach(instructor, "sam")
    response = instructor.get("/api/v1/exercises/sigmoid-neuron-random/solution?user=sam")
    assert response.status_code == 404


@pytest.mark.parametrize("query", ["seed=abc", "seed=-1", "seed=99999999999999999999",
                                   "seed=1&user=sam", "user=%00bad"])
def test_solution_query_is_validated(instructor, load_bundled, query):
    load_bundled("sigmoid-neuron-random")
    response = instructor.get(f"/api/v1/exercises/sigmoid-neuron-random/solution?{query}")
    assert response.status_code == 422
    assert response.mimetype == PROBLEM


def test_students_may_not_see_solutions(student, load_bundled):
    load_bundled("branching")
    response = student.get("/api/v1/exercises/branching/solution")
    assert response.status_code == 403


# ---------------------------------------------------------------- text bound for the database


@pytest.mark.parametrize("title", [r'"a\0b"', r'"bell\x07"'])
def test_a_control_character_in_an_exercise_title_is_422(instructor, bundled, title):
    text = bundled("branching")
    assert "\ntitle: " in text
    lines = [f"title: {title}" if line.startswith("title:") else line
             for line in text.splitlines()]
    response = instructor.put_yaml("branching", "\n".join(lines) + "\n")
    assert response.status_code == 422, response.json
    assert response.mimetype == PROBLEM
    assert response.json["errors"]
    assert instructor.get("/api/v1/exercises").json == []


def test_no_text_with_a_nul_reaches_the_database(app, instructor, bundled):
    import dataclasses

    from engine import parse_exercise
    from grader import sessions
    from grader.services import exercises
    from grader.services.errors import InvalidExercise

    exercise = parse_exercise(bundled("branching"))
    with app.app_context():
        session = sessions.get_session()
        for field, value in (("title", "a\x00b"), ("text", exercise.text + "#\x00\n")):
            broken = dataclasses.replace(exercise, **{field: value})
            with pytest.raises(InvalidExercise) as problem:
                exercises.store_exercise(session, broken, owner=None)
            assert problem.value.errors[0]["field"] == field


# ---------------------------------------------------------------- role before body


def test_a_student_gets_403_before_the_yaml_is_read(student, bundled):
    assert student.put("/api/v1/exercises/x", data="id: x",
                       content_type="text/plain").status_code == 403
    assert student.put("/api/v1/exercises/x", data=b"\xff",
                       content_type="application/yaml").status_code == 403
    assert student.put_yaml("x", "x" * 300_000).status_code == 403


def test_a_student_gets_403_before_the_solution_query_is_read(student, load_bundled):
    load_bundled("branching")
    assert student.get("/api/v1/exercises/branching/solution?seed=abc").status_code == 403


# ---------------------------------------------------------------- size limits


def test_yaml_over_the_exercise_limit_is_413(instructor, bundled, app):
    limit = app.config["MAX_EXERCISE_BYTES"]
    text = bundled("branching") + "#" * 70 + "\n"
    text += ("#" * 99 + "\n") * (limit // 100)
    assert limit < len(text.encode()) < app.config["MAX_BODY_BYTES"]
    response = instructor.put_yaml("branching", text)
    assert response.status_code == 413, response.json
    assert response.mimetype == PROBLEM
    assert str(limit) in response.json["detail"]


def test_yaml_at_the_exercise_limit_is_accepted(make_app, users_of, bundled):
    app = make_app(max_exercise_bytes=2048)
    instructor = users_of(app).add("ines", "instructor")
    text = bundled("branching")
    text += "#" * (2048 - len(text.encode()) - 1) + "\n"
    assert len(text.encode()) == 2048
    assert instructor.put_yaml("branching", text).status_code == 201
    assert instructor.put_yaml("branching", text + "\n").status_code == 413


def test_put_documents_400_and_413(client):
    put = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/exercises/{exercise_id}"]
    assert {"400", "403", "413", "415", "422"} <= set(put["put"]["responses"])


# ---------------------------------------------------------------- another user's solution


def random_exam_item(bundled) -> str:
    return bundled("sigmoid-neuron-random") + "practice: false\n"


@pytest.fixture
def exam_course(instructor, student, bundled):
    uploaded = instructor.put_yaml("sigmoid-neuron-random", random_exam_item(bundled))
    assert uploaded.status_code == 201
    course = instructor.post("/api/v1/courses", json={"title": "Exam"}).json["id"]
    assert instructor.post(f"/api/v1/courses/{course}/enrollments",
                           json={"user": "sam"}).status_code == 201
    assignment = instructor.post(f"/api/v1/courses/{course}/assignments",
                                 json={"exercise": "sigmoid-neuron-random"}).json["id"]
    return course, assignment


SOLUTION = "/api/v1/exercises/sigmoid-neuron-random/solution"


def test_solution_of_a_students_assignment_variant(instructor, student, exam_course):
    _, assignment = exam_course
    variant = student.get(f"/api/v1/assignments/{assignment}").json
    response = instructor.get(f"{SOLUTION}?user=sam&assignment={assignment}")
    assert response.status_code == 200, response.json
    assert response.json["inputs"] == variant["inputs"]
    assert response.json["seed"] == variant["seed"]
    assert response.json["assignment"] == assignment
    assert response.json["variant"] == variant["variant"]
    # Without ?assignment=: the user has no practice variant, so their assignment one.
    fallback = instructor.get(f"{SOLUTION}?user=sam")
    assert fallback.status_code == 200, fallback.json
    assert fallback.json == response.json


def test_solution_of_an_assignment_variant_uses_the_pinned_version(
        admin, instructor, student, exam_course, bundled):
    _, assignment = exam_course
    variant = student.get(f"/api/v1/assignments/{assignment}").json
    edited = random_exam_item(bundled).replace("title: Sigmoid", "title: Edited")
    assert admin.put_yaml("sigmoid-neuron-random", edited).json["version"] == 2
    response = instructor.get(f"{SOLUTION}?user=sam&assignment={assignment}")
    assert response.status_code == 200
    assert response.json["version"] == 1
    assert response.json["inputs"] == variant["inputs"]


def test_solution_of_an_assignment_without_a_variant_is_404(instructor, exam_course):
    _, assignment = exam_course
    assert instructor.get(f"{SOLUTION}?user=sam&assignment={assignment}").status_code == 404
    assert instructor.get(f"{SOLUTION}?user=sam").status_code == 404


def test_solution_of_an_assignment_of_another_exercise_is_422(instructor, exam_course,
                                                              load_bundled):
    _, assignment = exam_course
    load_bundled("branching")
    response = instructor.get(
        f"/api/v1/exercises/branching/solution?user=sam&assignment={assignment}")
    assert response.status_code == 422
    assert response.json["errors"][0]["parameter"] == "assignment"


@pytest.mark.parametrize("query", ["assignment=1", "assignment=1&seed=3", "assignment=x&user=sam",
                                   "assignment=0&user=sam"])
def test_solution_assignment_query_is_validated(instructor, load_bundled, query):
    load_bundled("branching")
    response = instructor.get(f"/api/v1/exercises/branching/solution?{query}")
    assert response.status_code == 422
    assert response.mimetype == PROBLEM


def test_solution_of_another_courses_student_is_403(users, student, exam_course):
    _, assignment = exam_course
    student.get(f"/api/v1/assignments/{assignment}")
    otto = users.add("otto", "instructor")
    assert otto.get(f"{SOLUTION}?user=sam&assignment={assignment}").status_code == 403
    assert otto.get(f"{SOLUTION}?user=sam").status_code == 403
    assert otto.get(f"{SOLUTION}?user=ghost").status_code == 403


def test_admins_see_everyones_solution(admin, student, exam_course):
    _, assignment = exam_course
    student.get(f"/api/v1/assignments/{assignment}")
    assert admin.get(f"{SOLUTION}?user=sam&assignment={assignment}").status_code == 200
    assert admin.get(f"{SOLUTION}?user=ghost").status_code == 404


def test_an_exercise_whose_every_draw_fails_is_a_located_409(student, load_bundled, monkeypatch):
    from engine import ExerciseError
    from engine.errors import Problem
    from grader.services import variants

    load_bundled("sigmoid-neuron-random")

    def unlucky(exercise, seed):
        raise ExerciseError([Problem("every draw lands on a kink")])

    monkeypatch.setattr(variants, "draw_variant", unlucky)
    for language, words in (("en", "could be drawn"), ("pt-BR", "pôde ser sorteada")):
        response = student.get("/api/v1/exercises/sigmoid-neuron-random",
                               headers={"Accept-Language": language})
        assert response.status_code == 409
        assert words in response.json["detail"]
