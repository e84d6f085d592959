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


def test_solution_for_a_users_variant(instructor, student, load_bundled):
    load_bundled("sigmoid-neuron-random")
    variant = student.get("/api/v1/exercises/sigmoid-neuron-random").json
    response = instructor.get("/api/v1/exercises/sigmoid-neuron-random/solution?user=sam")
    assert response.status_code == 200
    assert response.json["inputs"] == variant["inputs"]
    assert response.json["seed"] == variant["seed"]


def test_solution_needs_an_existing_variant(instructor, student, load_bundled):
    load_bundled("sigmoid-neuron-random")
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
