"""Exam integrity: while an assignment on an exercise is open to a student, practice
never grades the assignment's numbers, and no solution shows them.

A fixed-input exercise has one set of numbers: practising it is refused (403
`practice-closed`, saying until when) until the assignment is due. A randomized one is
practised on other numbers: a practice variant never has the assignment variant's.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from page_client import Browser, Elements

from grader.services import variants

PROBLEM = "application/problem+json"


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


@pytest.fixture
def course(instructor, student, users, load_bundled):
    """Course X with sam; olga is a student of no course."""
    load_bundled("branching", "sigmoid-neuron-random")
    users.add("olga")
    course_id = instructor.post("/api/v1/courses", json={"title": "X"}).json["id"]
    assert instructor.post(f"/api/v1/courses/{course_id}/enrollments",
                           json={"user": "sam"}).status_code == 201
    return course_id


def assign(instructor, course, exercise="branching", **fields):
    response = instructor.post(f"/api/v1/courses/{course}/assignments",
                               json={"exercise": exercise, **fields})
    assert response.status_code == 201, response.json
    return response.json["id"]


# ---------------------------------------------------------------- fixed inputs


def test_practice_of_a_fixed_input_exercise_is_closed_while_its_assignment_is_open(
        instructor, student, users, course):
    due = datetime.now(UTC) + timedelta(days=1)
    assignment = assign(instructor, course, opens_at=iso(-timedelta(hours=1)),
                        due_at=due.isoformat())
    for response in (student.get("/api/v1/exercises/branching"),
                     student.post("/api/v1/exercises/branching/variants"),
                     student.post("/api/v1/exercises/branching/attempts",
                                  json={"forward": {"a": -6.0}})):
        assert response.status_code == 403, response.json
        assert response.mimetype == PROBLEM
        assert response.json["type"] == "urn:backprop-grader:problem:practice-closed"
        assert abs(datetime.fromisoformat(response.json["until"]) - due) < timedelta(seconds=1)
        assert response.json["assignment"] == assignment
        assert "opens again once the assignment is due" in response.json["detail"]
    assert student.get("/api/v1/exercises/branching/attempts").json == []  # nothing stored
    # Someone without that assignment practises as before; so does its instructor.
    olga = users.add("olga2")
    assert olga.get("/api/v1/exercises/branching").status_code == 200
    assert instructor.get("/api/v1/exercises/branching").status_code == 200
    # The assignment itself is answered as usual.
    assert student.get(f"/api/v1/assignments/{assignment}").status_code == 200


def test_the_refusal_is_in_the_readers_language(instructor, student, course):
    assign(instructor, course, due_at=iso(timedelta(days=1)))
    response = student.get("/api/v1/exercises/branching",
                           headers={"Accept-Language": "pt-BR"})
    assert response.status_code == 403
    assert "a prática reabre quando terminar o prazo da atividade" in response.json["detail"]


def test_practice_opens_before_the_window_and_after_the_due_time(instructor, student, course):
    assign(instructor, course, opens_at=iso(timedelta(days=1)), due_at=iso(timedelta(days=2)))
    assign(instructor, course, opens_at=iso(-timedelta(days=2)),
           due_at=iso(-timedelta(days=1)))
    assert student.get("/api/v1/exercises/branching").status_code == 200
    assert student.post("/api/v1/exercises/branching/attempts",
                        json={"forward": {"a": -6.0}}).status_code == 201


def test_without_a_due_time_practice_stays_closed_while_it_is_open(instructor, student,
                                                                    course):
    assign(instructor, course)
    response = student.get("/api/v1/exercises/branching")
    assert response.status_code == 403
    assert response.json["until"] is None
    assert "closed while the assignment is open" in response.json["detail"]


@pytest.mark.parametrize(("language", "expected"), [
    ("en", ["Practice closed", "Practice opens again when the assignment is due:",
            "Go to the assignment"]),
    ("pt-BR", ["Prática fechada", "A prática reabre quando terminar o prazo da atividade:",
               "Ir para a atividade"]),
])
def test_the_practice_page_says_why_and_until_when(app, instructor, student, course,
                                                   language, expected):
    due = datetime(2099, 3, 20, 23, 59, tzinfo=UTC)
    assignment = assign(instructor, course, due_at=due.isoformat())
    sam = Browser(app)
    sam.sign_in("sam")
    page = sam.get("/exercises/branching", headers={"Accept-Language": language})
    assert page.status_code == 403 and page.mimetype == "text/html"
    for text in expected:
        assert text in page.text
    (time,) = Elements(page.text).all("time")
    assert time["datetime"] == "2099-03-20T23:59:00+00:00"
    assert "20" in page.text and "2099" in page.text
    assert f'href="/assignments/{assignment}"' in page.text
    # The attempt pages and the form are refused alike.
    assert sam.get("/exercises/branching/attempts/1").status_code == 403


# ---------------------------------------------------------------- randomized


@pytest.fixture
def seeds(monkeypatch):
    """Make the service draw the seeds given, in order, then 1000, 1001, ..."""

    def use(*given: int) -> None:
        sequence = itertools.chain(given, itertools.count(1000))
        monkeypatch.setattr(variants.secrets, "randbelow", lambda _limit: next(sequence))

    return use


def test_practice_is_drawn_on_other_numbers_than_the_open_assignment(
        instructor, student, course, seeds):
    assignment = assign(instructor, course, "sigmoid-neuron-random",
                        due_at=iso(timedelta(days=1)))
    seeds(7, 7, 7)  # the assignment's draw, then practice would draw the same seed
    graded = student.get(f"/api/v1/assignments/{assignment}").json
    practised = student.get("/api/v1/exercises/sigmoid-neuron-random").json
    assert graded["seed"] == 7
    assert practised["seed"] != 7 and practised["inputs"] != graded["inputs"]
    fresh = student.post("/api/v1/exercises/sigmoid-neuron-random/variants").json
    assert fresh["inputs"] != graded["inputs"]


def test_an_assignment_is_drawn_apart_from_earlier_practice(instructor, student, course,
                                                           seeds):
    seeds(7, 7)
    practised = student.get("/api/v1/exercises/sigmoid-neuron-random").json
    assignment = assign(instructor, course, "sigmoid-neuron-random",
                        due_at=iso(timedelta(days=1)))
    graded = student.get(f"/api/v1/assignments/{assignment}").json
    assert practised["seed"] == 7 and graded["seed"] != 7


def test_a_practice_variant_with_the_assignments_numbers_is_replaced(
        instructor, student, course, seeds):
    # Every draw the assignment tries is seed 7, the one sam practises: it keeps it.
    seeds(7, *[7] * (variants.SEED_TRIES + 1))
    practised = student.get("/api/v1/exercises/sigmoid-neuron-random").json
    assignment = assign(instructor, course, "sigmoid-neuron-random",
                        due_at=iso(timedelta(days=1)))
    graded = student.get(f"/api/v1/assignments/{assignment}").json
    assert practised["inputs"] == graded["inputs"]
    # Answers sent for those numbers are not graded: new numbers were drawn.
    stale = student.post("/api/v1/exercises/sigmoid-neuron-random/attempts",
                         json={"forward": {}})
    assert stale.status_code == 409
    assert stale.json["type"] == "urn:backprop-grader:problem:variant-replaced"
    again = student.get("/api/v1/exercises/sigmoid-neuron-random").json
    assert again["variant"] == 2 and again["inputs"] != graded["inputs"]
    assert student.post("/api/v1/exercises/sigmoid-neuron-random/attempts",
                        json={"forward": {}}).status_code == 201


# ---------------------------------------------------------------- solutions


def test_a_released_solution_waits_for_another_open_assignment_with_the_same_numbers(
        instructor, student, course):
    past = assign(instructor, course, opens_at=iso(-timedelta(days=3)),
                  due_at=iso(-timedelta(days=1)), solution_after_due=True)
    assert student.get(f"/api/v1/assignments/{past}").status_code == 200
    assert student.get(f"/api/v1/assignments/{past}/solution").status_code == 200
    assign(instructor, course, due_at=iso(timedelta(days=1)))  # the same numbers, open
    refused = student.get(f"/api/v1/assignments/{past}/solution")
    assert refused.status_code == 403
    assert refused.json["type"] == "urn:backprop-grader:problem:solution-not-released"
    assert "an assignment open to you" in refused.json["detail"]


def test_an_instructor_who_is_a_student_elsewhere_gets_no_solution_of_its_numbers(
        app, users, course, instructor):
    tara = users.add("tara", "instructor")
    assert instructor.post(f"/api/v1/courses/{course}/enrollments",
                           json={"user": "tara"}).status_code == 201
    assert tara.get("/api/v1/exercises/branching/solution").status_code == 200
    assign(instructor, course, due_at=iso(timedelta(days=1)))
    refused = tara.get("/api/v1/exercises/branching/solution")
    assert refused.status_code == 403
    assert refused.json["type"] == "urn:backprop-grader:problem:solution-not-released"
    browser = Browser(app)
    browser.sign_in("tara")
    assert browser.get("/instructor/exercises/branching/preview").status_code == 403
    # Her course's instructor still reads it.
    assert instructor.get("/api/v1/exercises/branching/solution").status_code == 200


TINY = """\
id: tiny
title: Two numbers only
inputs: {x: {choice: [1, 2]}, y: 3}
nodes:
  - {id: f, op: mul, in: [x, y]}
output: f
"""


def test_practice_never_gets_the_numbers_an_open_assignment_will_draw(instructor, student,
                                                                      course):
    # With two possible variants, practising both before opening the assignment would
    # give full feedback on its numbers: the assignment's are drawn first, and avoided.
    assert instructor.put_yaml("tiny", TINY).status_code in (200, 201)
    assignment = assign(instructor, course, exercise="tiny", max_attempts=1,
                        feedback="score", opens_at=iso(-timedelta(hours=1)),
                        due_at=iso(timedelta(days=1)))
    practised = set()
    for _ in range(12):
        drawn = student.post("/api/v1/exercises/tiny/variants")
        assert drawn.status_code in (201, 403), drawn.json
        if drawn.status_code == 201:
            practised.add(drawn.json["inputs"]["x"])
    given = student.get(f"/api/v1/assignments/{assignment}").json["inputs"]["x"]
    assert given not in practised and practised  # the other number only
