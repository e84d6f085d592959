"""An instructor's way through the pages in Chromium: the exercise library, a spec
stored with its problems shown at their lines and then fixed, a seed's worked solution
drawn, and the class analytics of an assignment; axe-core on every page, in English
and in Portuguese."""

from __future__ import annotations

from itertools import count

import pytest
from chromium_site import REPO
from test_pages_in_chromium import assert_accessible, sign_in

SPEC = """\
id: {id}
title: Made in the browser
inputs:
  x: 2.0
nodes:
  - {{id: a, op: {op}, in: [x]}}
output: a
"""

_instructors = count(1)


@pytest.fixture
def teacher(site) -> str:
    """A new instructor of its own for each test."""
    name = f"teacher{next(_instructors)}"
    site.add_user(name, "instructor")
    return name


def right_answers(name: str) -> dict[str, dict[str, float]]:
    """Every blank of a bundled exercise with fixed inputs, answered right."""
    from engine import draw_variant, load_exercise, solve

    exercise = load_exercise(REPO / "exercises" / f"{name}.yaml")
    solution = solve(draw_variant(exercise, None))
    return {"forward": {g.id: solution.values[g.id] for g in exercise.gates},
            "backward": {n: solution.grads[n]
                         for n in [*exercise.inputs, *(g.id for g in exercise.gates)]}}


def assignment_with_attempts(site, teacher: str, students: list[str], exercise: str,
                             answers: list[dict]) -> int:
    """A course of the teacher's with the students enrolled, an assignment of the
    exercise, and each student's attempt with the answers at the same place."""
    from grader import sessions
    from grader.models import CourseRole
    from grader.services import accounts, assignments, courses

    with site.app.app_context():
        session = sessions.get_session()

        def caller(name: str) -> accounts.Caller:
            return accounts.Caller.of(accounts.user_named(session, name))

        course = courses.create_course(session, caller(teacher), "Neural networks")
        for name in students:
            courses.enroll(session, caller(teacher), course.id, name, CourseRole.STUDENT)
        assignment = courses.create_assignment(session, caller(teacher), course.id,
                                               exercise, None, None, None, False)
        for name, sent in zip(students, answers, strict=True):
            assignments.submit_assignment(session, caller(name), assignment.id, sent, None)
        return assignment.id


@pytest.mark.parametrize(("locale", "texts"), [
    ("en-US", {"library": "Exercise library", "upload": "Upload a new exercise",
               "store": "Validate and store", "line": "line 6", "stored": "Version 2 stored."}),
    ("pt-BR", {"library": "Biblioteca de exercícios", "upload": "Enviar um novo exercício",
               "store": "Validar e guardar", "line": "linha 6",
               "stored": "Versão 2 guardada."}),
])
def test_an_instructor_stores_a_spec_its_problems_shown_at_their_lines(
        new_page, site, teacher, screenshot, locale, texts):
    page = new_page(locale=locale)
    sign_in(page, site, teacher, screenshot)
    page.goto(site.url + "/instructor/exercises")
    assert page.get_by_role("heading", level=1).inner_text() == texts["library"]
    assert page.locator("table.listing code", has_text="sigmoid-neuron-random").count() == 1
    screenshot(page, "library")
    assert_accessible(page)
    page.get_by_role("link", name=texts["upload"]).click()
    page.wait_for_url("**/instructor/exercises/new")
    exercise_id = f"made-{teacher}"
    page.locator("#yaml-text").fill(SPEC.format(id=exercise_id, op="frobnicate"))
    page.get_by_role("button", name=texts["store"]).click()
    page.locator(".problem-list").wait_for()
    problem = page.locator(".problem-list li").first
    assert texts["line"] in problem.inner_text()
    anchor = problem.locator("a").get_attribute("href")
    marked = page.locator(f"li{anchor}")
    assert marked.get_attribute("class") == "error-line"
    assert marked.get_attribute("value") == "6"
    assert "frobnicate" in marked.inner_text()
    assert page.locator(".yaml-lines li.error-line").count() == 1
    assert page.locator("#yaml-text").input_value().startswith(f"id: {exercise_id}\n")
    screenshot(page, "problems")
    assert_accessible(page)
    # The first good version, then a second one from the edit page.
    page.locator("#yaml-text").fill(SPEC.format(id=exercise_id, op="exp"))
    page.get_by_role("button", name=texts["store"]).click()
    page.wait_for_url(f"**/instructor/exercises/{exercise_id}/edit?stored=1")
    page.locator("#yaml-text").fill(SPEC.format(id=exercise_id, op="inv"))
    page.get_by_role("button", name=texts["store"]).click()
    page.wait_for_url(f"**/instructor/exercises/{exercise_id}/edit?stored=2")
    assert page.get_by_role("status").inner_text().startswith(texts["stored"])
    assert "op: inv" in page.locator("#yaml-text").input_value()
    assert page.locator(".problem-list").count() == 0
    screenshot(page, "stored")
    assert_accessible(page)
    page.goto(site.url + "/instructor/exercises")
    row = page.locator("table.listing tr", has_text=exercise_id)
    assert row.locator("td").first.inner_text() == "2"


@pytest.mark.parametrize(("locale", "seed"), [("en-US", "seed 7"), ("pt-BR", "semente 7")])
def test_the_preview_draws_a_seeds_worked_solution(new_page, site, teacher, screenshot,
                                                   locale, seed):
    page = new_page(locale=locale)
    sign_in(page, site, teacher, screenshot)
    page.goto(site.url + "/instructor/exercises/sigmoid-neuron-random/preview?seed=7")
    assert seed in page.locator(".meta").first.inner_text()
    svg = page.locator(".solution-graph svg")
    assert svg.is_visible()
    assert svg.locator("text.value").count() >= 7  # a value on every gate
    assert svg.locator("text.gradient").count() >= 12  # a gradient on every node
    steps = page.locator("table.steps tbody tr")
    assert steps.count() == 12  # five inputs, seven gates
    drawing_bottom = page.evaluate(
        "document.querySelector('.solution-graph').getBoundingClientRect().bottom")
    table_top = page.evaluate(
        "document.querySelector('table.steps').getBoundingClientRect().top")
    assert table_top >= drawing_bottom  # the steps below the drawing
    screenshot(page, "seed-7")
    assert_accessible(page)
    other = page.locator("text.value").all_text_contents()
    page.locator("#seed").fill("8")
    page.locator("form.inline-form button[type=submit]").click()
    page.wait_for_url("**/preview?seed=8")
    assert page.locator("text.value").all_text_contents() != other


def test_the_analytics_show_the_shares_on_the_circuit_and_in_the_table(
        new_page, site, teacher, screenshot):
    students = [f"{teacher}-ann", f"{teacher}-bob", f"{teacher}-cat"]
    for name in students:
        site.add_user(name)
    right = right_answers("branching")
    wrong_x = {**right, "backward": {**right["backward"], "x": right["backward"]["a"] * -2}}
    assignment = assignment_with_attempts(site, teacher, students, "branching",
                                          [right, wrong_x, wrong_x])
    page = new_page()
    sign_in(page, site, teacher, screenshot)
    page.goto(f"{site.url}/instructor/assignments/{assignment}/analytics")
    assert "3 students" in page.locator("main").inner_text()
    boxes = page.locator(".analytics-graph .share-box")
    rows = page.locator("table.analytics tbody tr")
    assert boxes.count() == rows.count() > 0
    assert all(box.is_visible() for box in boxes.all())
    x_row = rows.filter(has=page.locator("td code", has_text="x")).filter(
        has_text="gradient")
    cells = x_row.locator("td").all_inner_texts()
    assert "33" in cells[2] and "67" in cells[4]  # correct, incorrect
    box = page.locator("#" + x_row.locator("th a").get_attribute("href").lstrip("#"))
    assert "33" in box.locator("a").inner_text()
    box.locator("a").focus()
    assert box.locator(".bubble").is_visible()
    screenshot(page, "analytics")
    assert_accessible(page)
    page.get_by_role("button", name="Português (Brasil)").click()
    page.wait_for_url("**/analytics")
    assert page.locator("html").get_attribute("lang") == "pt-BR"
    assert "Conta a última tentativa de cada aluno: 3 alunos." in page.locator(
        "main").inner_text()
    screenshot(page, "analytics-portuguese")
    assert_accessible(page)
