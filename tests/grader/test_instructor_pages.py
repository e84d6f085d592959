"""The instructor pages through Flask's test client: who may open them, CSRF, the
exercise library (a spec's problems at their lines, a new version stored, the preview's
values and gradients), courses (roster import, sign-in links, assignments with every
setting), the gradebook as HTML and CSV, a student's attempts and the analytics."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from page_client import Browser, Elements

from grader import sessions
from grader.services import sign_in


@pytest.fixture
def ines(app, instructor) -> Browser:
    """A browser signed in as the instructor ines."""
    found = Browser(app)
    found.sign_in("ines")
    return found


@pytest.fixture
def course(instructor) -> int:
    return instructor.post("/api/v1/courses", json={"title": "Redes neurais"}).json["id"]


def test_students_get_a_403_page_and_signed_out_visitors_are_asked_to_sign_in(
        student_browser, browser, course, load_bundled):
    load_bundled("branching")
    for path in ("/instructor/exercises", "/instructor/exercises/new",
                 "/instructor/exercises/branching/edit",
                 "/instructor/exercises/branching/preview",
                 "/instructor/courses", f"/instructor/courses/{course}",
                 f"/instructor/courses/{course}/grades",
                 f"/instructor/courses/{course}/grades.csv"):
        page = student_browser.get(path)
        assert page.status_code == 403, path
        assert page.mimetype == "text/html"
        assert browser.get(path).status_code == 401, path
    assert "Teaching" not in student_browser.get("/").text


def test_an_instructor_of_another_course_gets_a_403(app, users, course):
    users.add("olga", "instructor")
    olga = Browser(app)
    olga.sign_in("olga")
    assert olga.get(f"/instructor/courses/{course}").status_code == 403
    assert olga.get("/instructor/courses").status_code == 200
    assert "Redes neurais" not in olga.page.text


def test_admins_reach_every_course(app, admin, course):
    root = Browser(app)
    root.sign_in("root")
    assert root.get(f"/instructor/courses/{course}").status_code == 200


def test_forms_without_the_token_are_refused(ines, course, load_bundled):
    load_bundled("branching")
    ines.get("/instructor/courses")
    for path in ("/instructor/courses", "/instructor/exercises/new",
                 f"/instructor/courses/{course}/enrollments",
                 f"/instructor/courses/{course}/roster",
                 f"/instructor/courses/{course}/sign-in-links",
                 f"/instructor/courses/{course}/assignments",
                 "/instructor/exercises/branching/edit"):
        refused = ines.client.post(path, data={"title": "x", "roster": "zed"})
        assert refused.status_code == 403, path
        assert "This form has expired" in refused.text


# ---------------------------------------------------------------- exercises


BAD_SPEC = """id: broken
title: Broken
inputs:
  x: 1.0
nodes:
  - {id: a, op: mul, in: [x, y]}
  - {id: f, op: blorp, in: [a]}
output: f
"""


def test_the_library_lists_every_exercise_with_what_the_caller_may_do(ines, load_bundled):
    load_bundled("branching", "sigmoid-neuron")
    page = ines.get("/instructor/exercises")
    assert page.status_code == 200
    assert "branching" in page.text and "sigmoid-neuron" in page.text
    assert "bundled" in page.text and "Source" in page.text  # ines owns neither
    assert "Teaching" in page.text


def test_a_spec_with_problems_is_shown_with_each_problem_at_its_line(ines):
    ines.get("/instructor/exercises/new")
    page = ines.post("/instructor/exercises/new", {"yaml": BAD_SPEC})
    assert page.status_code == 422
    assert "Not stored" in page.text
    elements = Elements(page.text)
    error_lines = [a["id"] for a in elements.all("li") if a.get("class") == "error-line"]
    assert error_lines == ["line-6", "line-7"]
    assert elements.all("a", href="#line-6") and elements.all("a", href="#line-7")
    assert "&#39;y&#39; is not an input or a node" in page.text or "'y' is not" in page.text
    assert "blorp" in page.text
    [area] = [a for a in elements.all("textarea") if a.get("name") == "yaml"]
    assert "op: blorp" in page.text  # the text is kept to be fixed
    assert area["id"] == "yaml-text"


def test_a_new_exercise_is_stored_then_a_new_version_from_the_edit_page(ines, bundled):
    text = bundled("branching").replace("id: branching", "id: mine")
    ines.get("/instructor/exercises/new")
    stored = ines.post("/instructor/exercises/new", {"yaml": text})
    assert stored.status_code == 303
    assert stored.headers["Location"] == "/instructor/exercises/mine/edit?stored=1"
    edit = ines.get(stored.headers["Location"])
    assert "Version 1 stored." in edit.text and "id: mine" in edit.text
    changed = text.replace("x: 3.0", "x: 4.0")
    again = ines.post("/instructor/exercises/mine/edit", {"yaml": changed})
    assert again.headers["Location"] == "/instructor/exercises/mine/edit?stored=2"
    assert "Version 2 stored." in ines.get(again.headers["Location"]).text


def test_a_file_upload_is_stored_too(ines, bundled):
    ines.get("/instructor/exercises/new")
    text = bundled("branching").replace("id: branching", "id: filed")
    response = ines.post("/instructor/exercises/new",
                         {"yaml": "", "file": (io.BytesIO(text.encode()), "filed.yaml")},
                         content_type="multipart/form-data")
    assert response.status_code == 303


def test_only_the_owner_or_an_admin_changes_an_exercise(ines, bundled, load_bundled):
    load_bundled("branching")
    ines.get("/instructor/exercises/branching/edit")
    refused = ines.post("/instructor/exercises/branching/edit",
                        {"yaml": bundled("branching").replace("x: 3.0", "x: 4.0")})
    assert refused.status_code == 403
    assert "only the exercise&#39;s owner or an admin" in refused.text


def test_the_edit_page_keeps_the_id_of_its_exercise(ines, bundled):
    text = bundled("branching").replace("id: branching", "id: mine")
    ines.get("/instructor/exercises/new")
    ines.post("/instructor/exercises/new", {"yaml": text})
    ines.get("/instructor/exercises/mine/edit")
    other = ines.post("/instructor/exercises/mine/edit",
                      {"yaml": text.replace("id: mine", "id: other")})
    assert other.status_code == 422 and "must equal the id in the URL" in other.text


def test_the_preview_draws_values_and_gradients_and_explains_each_step(ines, load_bundled):
    load_bundled("branching", "sigmoid-neuron-random")
    page = ines.get("/instructor/exercises/branching/preview")
    assert page.status_code == 200
    # f = (x·y)(x + y) + max(x, y) at x = 3, y = -2: a = -6, b = 1, f = -6 + 3 = -3;
    # df/dx = df/da·y + df/db + df/dc = 1·-2 + -6 + 1 = -7.
    assert 'class="value"' in page.text and 'class="gradient"' in page.text
    assert ">−3.00</text>" in page.text  # f's value
    assert ">−7.00</text>" in page.text  # df/dx
    assert "gradients at a branch are summed" in page.text
    assert "from a: 1.00 × −2.00 = −2.00" in page.text
    seeded = ines.get("/instructor/exercises/sigmoid-neuron-random/preview?seed=7")
    assert "seed 7" in seeded.text
    other = ines.get("/instructor/exercises/sigmoid-neuron-random/preview?seed=8")
    assert other.text != seeded.text
    for typed in ("abc", "²", "9" * 5000):  # "²" is a digit to str.isdigit, not to int
        bad = ines.get(f"/instructor/exercises/branching/preview?seed={typed}")
        assert bad.status_code == 200 and "A seed is a whole number" in bad.text
    portuguese = ines.get("/instructor/exercises/branching/preview",
                          headers={"Accept-Language": "pt-BR"})
    assert ">−3,00</text>" in portuguese.text
    # The max rule in the reader's words, and each gate named as the lecture draws it.
    assert "[x é a maior]" in portuguese.text and "is the max" not in portuguese.text
    assert '<span class="meta">×</span>' in page.text and ">mul<" not in page.text


# ---------------------------------------------------------------- courses


def test_an_instructor_creates_a_course_and_enrols_a_user(ines, users):
    ines.get("/instructor/courses")
    assert ines.post("/instructor/courses", {"title": " "}).status_code == 422
    created = ines.post("/instructor/courses", {"title": "Aprendizado profundo"})
    assert created.status_code == 303
    url = created.headers["Location"]
    users.add("ana")
    ines.get(url)
    enrolled = ines.post(url + "/enrollments", {"username": "ana", "role": "student"})
    assert enrolled.status_code == 303
    page = ines.get(enrolled.headers["Location"])
    assert "ana is enrolled." in page.text
    ines.get(url)
    # An unknown username is answered as a known one: a student account is made for it.
    unknown = ines.post(url + "/enrollments", {"username": "nobody", "role": "student"})
    assert unknown.status_code == 303
    assert "nobody is enrolled." in ines.get(unknown.headers["Location"]).text
    ines.get(url)
    malformed = ines.post(url + "/enrollments", {"username": "no body", "role": "student"})
    assert malformed.status_code == 422 and "letters, digits and" in malformed.text


def test_a_roster_import_reports_every_line(ines, course, users):
    users.add("old")
    ines.get(f"/instructor/courses/{course}")
    page = ines.post(f"/instructor/courses/{course}/roster", {
        "roster": "username,display name,email\nnew1,Nova,n@x\nold\nbad name\nnew1\n"})
    assert page.status_code == 200
    outcomes = [a["data-outcome"] for a in Elements(page.text).all("tr") if "data-outcome" in a]
    # An instructor is not told which accounts existed: new and old alike are enrolled.
    assert outcomes == ["enrolled", "enrolled", "skipped", "skipped"]
    assert "Roster imported: 2 enrolled" in page.text and " created," not in page.text
    assert "already on line 2" in page.text and "not a valid username" in page.text
    assert "Display names and emails were read but not stored." in page.text
    too_big = ines.post(f"/instructor/courses/{course}/roster",
                        {"roster": "a\n" * 2001})
    assert too_big.status_code == 422 and "too many lines" in too_big.text


def test_sign_in_links_are_shown_once_in_copyable_fields(app, ines, course, student):
    ines.get(f"/instructor/courses/{course}")
    ines.post(f"/instructor/courses/{course}/enrollments", {"username": "sam"})
    ines.get(f"/instructor/courses/{course}")
    page = ines.post(f"/instructor/courses/{course}/sign-in-links")
    assert page.status_code == 200
    [field] = [a for a in Elements(page.text).all("input") if "data-copy-text" in a]
    assert field["readonly"] == "" and field["value"].startswith("http://127.0.0.1:8000/sign-in/")
    secret = field["value"].rsplit("/", 1)[1]
    with app.app_context():
        assert sign_in.link_owner(sessions.get_session(), secret).username == "sam"
    assert page.headers["Cache-Control"] == "no-store"


def test_an_assignment_is_created_with_every_setting(ines, course, load_bundled, instructor):
    load_bundled("branching")
    ines.get(f"/instructor/courses/{course}")
    response = ines.post(f"/instructor/courses/{course}/assignments", {
        "exercise": "branching", "max_attempts": "3", "opens_at": "2026-03-02T08:00",
        "due_at": "2026-03-20T23:59", "time_zone": "America/Sao_Paulo",
        "new_variant_each_attempt": "on", "feedback": "location", "solution_after_due": "on"})
    assert response.status_code == 303, response.text
    [made] = instructor.get(f"/api/v1/courses/{course}/assignments").json
    assert made["max_attempts"] == 3 and made["feedback"] == "location"
    assert made["new_variant_each_attempt"] and made["solution_after_due"]
    # 23:59 in São Paulo (UTC−3) is 02:59 UTC the next day.
    assert datetime.fromisoformat(made["due_at"]) == datetime(2026, 3, 21, 2, 59, tzinfo=UTC)
    assert datetime.fromisoformat(made["opens_at"]) == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    page = ines.get(response.headers["Location"])
    assert "Assignment created." in page.text and "new numbers each attempt" in page.text


def test_a_bad_assignment_form_marks_its_fields(ines, course, load_bundled):
    load_bundled("branching")
    ines.get(f"/instructor/courses/{course}")
    page = ines.post(f"/instructor/courses/{course}/assignments", {
        "exercise": "branching", "max_attempts": "0", "opens_at": "2026-03-20T08:00",
        "due_at": "2026-03-02T08:00", "time_zone": "Mars/Olympus", "feedback": "full"})
    assert page.status_code == 422
    invalid = {a.get("name") for a in Elements(page.text).all("input")
               if a.get("aria-invalid") == "true"}
    assert {"max_attempts", "time_zone"} <= invalid
    again = ines.post(f"/instructor/courses/{course}/assignments", {
        "exercise": "branching", "opens_at": "2026-03-20T08:00",
        "due_at": "2026-03-02T08:00", "time_zone": "UTC", "feedback": "full"})
    assert again.status_code == 422 and "must be after the opening time" in again.text


# ---------------------------------------------------------------- results


@pytest.fixture
def graded_class(instructor, users, course, load_bundled, right_answers):
    """Three students' attempts at the branching exercise: ann right, bob wrong at
    df/dx, cat wrong then right; dan never tried."""
    load_bundled("branching")
    class_ = {name: users.add(name) for name in ("ann", "bob", "cat", "dan")}
    for name in class_:
        instructor.post(f"/api/v1/courses/{course}/enrollments", json={"user": name})
    assignment = instructor.post(f"/api/v1/courses/{course}/assignments",
                                 json={"exercise": "branching"}).json["id"]
    right = right_answers(class_["ann"].get(f"/api/v1/assignments/{assignment}").json)
    wrong = {**right, "backward": {**right["backward"], "x": right["backward"]["a"] * -2}}
    url = f"/api/v1/assignments/{assignment}/attempts"
    for name, answers in (("ann", right), ("bob", wrong), ("cat", wrong), ("cat", right)):
        assert class_[name].post(url, json=answers).status_code == 201
    return assignment


def test_the_gradebook_as_a_table_and_as_csv(ines, course, graded_class):
    page = ines.get(f"/instructor/courses/{course}/grades")
    assert page.status_code == 200
    rows = {a.get("scope") for a in Elements(page.text).all("th")}
    assert {"col", "row"} <= rows
    assert "no attempt" in page.text and "100%" in page.text
    download = ines.get(f"/instructor/courses/{course}/grades.csv")
    assert download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(download.text)))
    assert table[0][0] == "user" and table[0][1].endswith("Gradients at a branch are summed")
    by_user = {row[0]: row[1] for row in table[1:]}
    assert by_user["ann"] == "1" and by_user["dan"] == ""


def test_the_gradebook_csv_is_the_apis(ines, course, graded_class, instructor):
    """The same rows and the same guard against spreadsheet formulas as the API."""
    page = ines.get(f"/instructor/courses/{course}/grades.csv").data
    api = instructor.get(f"/api/v1/courses/{course}/grades",
                         headers={"Accept": "text/csv"}).data
    assert page == api


def test_a_students_attempts_are_drawn_in_full(ines, graded_class):
    page = ines.get(f"/instructor/assignments/{graded_class}/students/cat")
    assert page.status_code == 200
    assert "Attempt 2" in page.text
    first = ines.get(f"/instructor/assignments/{graded_class}/students/cat/attempts/1")
    statuses = {a["id"]: a.get("data-status") for a in Elements(first.text).all("div")
                if a.get("class", "").startswith("blank")}
    assert "incorrect" in statuses.values()
    assert "First error:" in first.text
    listing = ines.get(f"/instructor/assignments/{graded_class}")
    assert f"/instructor/assignments/{graded_class}/students/bob" in listing.text
    assert ines.get(f"/instructor/assignments/{graded_class}/students/dan").status_code == 200


def test_the_analytics_show_each_blanks_shares_on_the_circuit_and_in_a_table(
        ines, graded_class):
    page = ines.get(f"/instructor/assignments/{graded_class}/analytics")
    assert page.status_code == 200
    assert "latest attempt counts: 3 students" in page.text
    assert "1 student has not attempted it yet" in page.text
    elements = Elements(page.text)
    rows = [a["id"] for a in elements.all("tr") if a.get("id", "").startswith("row-")]
    assert len(rows) == 12  # a value per gate (5), a gradient per node (7)
    text = page.text
    # df/dx: ann and cat right, bob wrong.
    start = re.search(r'<th scope="row"><a href="#share-\d+">df/dx</a>', text).start()
    cells = text[start:text.index("</tr>", start)]
    assert "67%" in cells and "33%" in cells
    assert "✓ 67%" in text  # on the circuit too, with its text
    assert 'role="note"' in text


def test_the_instructor_address_leads_to_the_courses(app):
    response = app.test_client().get("/instructor")
    assert response.status_code in (302, 308)
    followed = app.test_client().get("/instructor/", follow_redirects=False)
    assert followed.status_code == 302
    assert followed.headers["Location"].endswith("/instructor/courses")


def test_an_instructor_reads_exercise_titles_in_their_language(ines, course, graded_class):
    portuguese = {"Accept-Language": "pt-BR"}
    title = "Gradientes nas ramificações se somam"
    for path in ("/instructor/exercises", f"/instructor/courses/{course}",
                 f"/instructor/courses/{course}/grades",
                 f"/instructor/assignments/{graded_class}"):
        page = ines.get(path, headers=portuguese)
        assert page.status_code == 200 and title in page.text, path
    csv_text = ines.get(f"/instructor/courses/{course}/grades.csv", headers=portuguese).text
    assert title in csv_text
    english = ines.get(f"/instructor/courses/{course}", headers={"Accept-Language": "en"})
    assert "Gradients at a branch are summed" in english.text
