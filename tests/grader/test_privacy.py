"""Privacy between courses: who sees whose attempts, variants and solutions, through
the JSON API and the pages alike.

The cast: ann, a student of course X; bob, a student of course Y; ines, who teaches X;
otto, who teaches Y; root, an admin. A username the caller may not see is refused with
the same 403 whether or not the account exists; an id that does not exist is 404.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from page_client import Browser, Elements
from test_api_exercises import EXAM_ITEM

from grader import sessions
from grader.models import Role
from grader.services import accounts, exercise_library, history, practice
from grader.services.errors import Forbidden, NotFound

PROBLEM = "application/problem+json"
EXERCISE = "sigmoid-neuron-random"
PRACTICE = f"/api/v1/exercises/{EXERCISE}/attempts"
SOLUTION = f"/api/v1/exercises/{EXERCISE}/solution"
WHO = ("ann", "bob", "ines", "otto", "root")


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


class School:
    """Two courses, their people as API callers and as browsers, and an assignment of
    course X that ann has answered once."""

    def __init__(self, app, users, load_bundled) -> None:
        load_bundled(EXERCISE, "branching")
        self.app = app
        self.api = {"ann": users.add("ann"), "bob": users.add("bob"),
                    "ines": users.add("ines", "instructor"),
                    "otto": users.add("otto", "instructor"), "root": users.add("root", "admin")}
        ines, otto = self.api["ines"], self.api["otto"]
        self.x = ines.post("/api/v1/courses", json={"title": "X"}).json["id"]
        self.y = otto.post("/api/v1/courses", json={"title": "Y"}).json["id"]
        assert ines.post(f"/api/v1/courses/{self.x}/enrollments",
                         json={"user": "ann"}).status_code == 201
        assert otto.post(f"/api/v1/courses/{self.y}/enrollments",
                         json={"user": "bob"}).status_code == 201
        # Randomized: practice stays open while it is, on other numbers
        # (test_exam_integrity).
        self.assignment = ines.post(f"/api/v1/courses/{self.x}/assignments", json={
            "exercise": EXERCISE, "opens_at": iso(-timedelta(days=2)),
            "due_at": iso(timedelta(days=3))}).json["id"]
        ann = self.api["ann"]
        assert ann.get(f"/api/v1/assignments/{self.assignment}").status_code == 200
        assert ann.post(f"/api/v1/assignments/{self.assignment}/attempts",
                        json={"forward": {}}).status_code == 201
        self._browsers: dict[str, Browser] = {}

    def browser(self, name: str) -> Browser:
        if name not in self._browsers:
            found = Browser(self.app)
            found.sign_in(name)
            self._browsers[name] = found
        return self._browsers[name]


@pytest.fixture
def school(app, users, load_bundled) -> School:
    return School(app, users, load_bundled)


def statuses(school: School, path: str, *, page: bool = False) -> dict[str, int]:
    """The status each of the cast gets for a path (through the API, or as a page)."""
    if page:
        return {name: school.browser(name).get(path).status_code for name in WHO}
    return {name: school.api[name].get(path).status_code for name in WHO}


# ---------------------------------------------------------------- the matrix


def test_practice_attempts_of_a_student(school):
    school.api["ann"].post(PRACTICE, json={"forward": {}})
    assert statuses(school, f"{PRACTICE}?user=ann") == {
        "ann": 200, "bob": 403, "ines": 200, "otto": 403, "root": 200}
    # A name nobody may see is answered as a stranger's: 403 whether or not it exists.
    assert statuses(school, f"{PRACTICE}?user=ghost") == {
        "ann": 403, "bob": 403, "ines": 403, "otto": 403, "root": 404}
    assert statuses(school, f"{PRACTICE}?user=bob")["ines"] == 403


def test_assignment_attempts_of_a_student(school):
    path = f"/api/v1/assignments/{school.assignment}/attempts"
    assert statuses(school, f"{path}?user=ann") == {
        "ann": 200, "bob": 403, "ines": 200, "otto": 403, "root": 200}
    # bob exists but is not in course X: the same answer as no account at all.
    for name in ("bob", "ghost"):
        response = school.api["ines"].get(f"{path}?user={name}")
        assert response.status_code == 403 and response.mimetype == PROBLEM
        assert response.json["detail"] == f"'{name}' is not enrolled in this course"
    assert school.api["root"].get(f"{path}?user=bob").json == []
    assert school.api["root"].get(f"{path}?user=ghost").status_code == 404


def test_assignment_variants_solutions_and_grades(school):
    a = school.assignment
    assert statuses(school, f"/api/v1/assignments/{a}") == {
        "ann": 200, "bob": 403, "ines": 200, "otto": 403, "root": 200}
    assert statuses(school, f"{SOLUTION}?user=ann&assignment={a}") == {
        "ann": 403, "bob": 403, "ines": 200, "otto": 403, "root": 200}
    for name in ("bob", "ghost"):  # not in the course: alike, whether or not they exist
        response = school.api["ines"].get(f"{SOLUTION}?user={name}&assignment={a}")
        assert response.status_code == 403
        assert response.json["detail"] == f"'{name}' is not enrolled in this course"
    assert statuses(school, f"{SOLUTION}?user=ann") == {
        "ann": 403, "bob": 403, "ines": 200, "otto": 403, "root": 200}
    assert statuses(school, f"/api/v1/courses/{school.x}/grades") == {
        "ann": 403, "bob": 403, "ines": 200, "otto": 403, "root": 200}
    assert statuses(school, f"/api/v1/courses/{school.x}/enrollments") == {
        "ann": 403, "bob": 403, "ines": 200, "otto": 403, "root": 200}
    assert school.api["ines"].get("/api/v1/assignments/999999").status_code == 404


def test_the_pages(school):
    a = school.assignment
    assert statuses(school, f"/assignments/{a}/attempts/1", page=True) == {
        "ann": 200, "bob": 403, "ines": 404, "otto": 403, "root": 404}
    assert statuses(school, f"/instructor/assignments/{a}/students/ann", page=True) == {
        "ann": 403, "bob": 403, "ines": 200, "otto": 403, "root": 200}
    assert statuses(school, f"/instructor/assignments/{a}/students/ann/attempts/1",
                    page=True) == {"ann": 403, "bob": 403, "ines": 200, "otto": 403,
                                   "root": 200}
    for name in ("bob", "ghost"):  # not in the course: alike, whether or not they exist
        page = school.browser("ines").get(f"/instructor/assignments/{a}/students/{name}")
        assert page.status_code == 403
        assert f"{name}&#39; is not enrolled in this course" in page.text
    assert statuses(school, f"/instructor/assignments/{a}/analytics", page=True) == {
        "ann": 403, "bob": 403, "ines": 200, "otto": 403, "root": 200}
    assert statuses(school, f"/instructor/assignments/{a}", page=True) == {
        "ann": 403, "bob": 403, "ines": 200, "otto": 403, "root": 200}
    assert statuses(school, f"/instructor/courses/{school.x}/grades", page=True) == {
        "ann": 403, "bob": 403, "ines": 200, "otto": 403, "root": 200}
    # Practice pages are their user's own: nobody reaches another's.
    school.api["ann"].post(PRACTICE, json={"forward": {}})
    assert school.browser("ann").get(f"/exercises/{EXERCISE}/attempts/1").status_code == 200
    assert school.browser("bob").get(f"/exercises/{EXERCISE}/attempts/1").status_code == 404


def test_nothing_of_another_course_leaks_into_a_listing(school):
    ines = school.api["ines"]
    assert [c["title"] for c in ines.get("/api/v1/courses").json] == ["X"]
    book = ines.get(f"/api/v1/courses/{school.x}/grades").json
    assert [s["user"] for s in book["students"]] == ["ann"]
    page = school.browser("ines").get(f"/instructor/assignments/{school.assignment}")
    assert "bob" not in page.text


# ---------------------------------------------------------------- practice is the student's


def test_an_instructor_sees_practice_only_from_the_students_joining(app, users, load_bundled):
    load_bundled(EXERCISE)
    ann = users.add("ann")
    ines = users.add("ines", "instructor")
    before = ann.get(f"/api/v1/exercises/{EXERCISE}").json
    assert ann.post(PRACTICE, json={"forward": {}}).status_code == 201
    course = ines.post("/api/v1/courses", json={"title": "X"}).json["id"]
    assert ines.post(f"/api/v1/courses/{course}/enrollments",
                     json={"user": "ann"}).status_code == 201
    # Enrolling ann shows ines nothing ann did before: no attempt, no variant.
    assert ines.get(f"{PRACTICE}?user=ann").json == []
    assert ines.get(f"{SOLUTION}?user=ann").status_code == 404
    with app.app_context():
        session = sessions.get_session()
        teacher = accounts.Caller.of(accounts.user_named(session, "ines"))
        with pytest.raises(NotFound):
            history.practice_attempt(session, teacher, EXERCISE, 1, "ann")
        assert len(practice.practice_attempts(session, accounts.Caller.of(
            accounts.user_named(session, "ann")), EXERCISE)) == 1  # still ann's own
    # What ann does from now on is her course's to see.
    fresh = ann.post(f"/api/v1/exercises/{EXERCISE}/variants").json
    assert fresh["inputs"] != before["inputs"] or fresh["variant"] == 2
    assert ann.post(PRACTICE, json={"forward": {}}).status_code == 201
    assert [a["number"] for a in ines.get(f"{PRACTICE}?user=ann").json] == [2]
    solution = ines.get(f"{SOLUTION}?user=ann")
    assert solution.status_code == 200 and solution.json["variant"] == 2


def test_a_co_instructor_is_not_a_student(users, load_bundled):
    """Instructors see their students' practice, not their fellow instructors'."""
    load_bundled(EXERCISE)
    ines = users.add("ines", "instructor")
    ivy = users.add("ivy", "instructor")
    course = ines.post("/api/v1/courses", json={"title": "X"}).json["id"]
    assert ines.post(f"/api/v1/courses/{course}/enrollments",
                     json={"user": "ivy", "role": "instructor"}).status_code == 201
    ivy.post(PRACTICE, json={"forward": {}})
    assert ines.get(f"{PRACTICE}?user=ivy").status_code == 403


# ---------------------------------------------------------------- enrolling


def enrol(caller, course, user, role="student"):
    return caller.post(f"/api/v1/courses/{course}/enrollments",
                       json={"user": user, "role": role})


def test_enrolling_does_not_tell_which_usernames_exist(app, users):
    ines = users.add("ines", "instructor")
    users.add("bob")  # an account ines has never seen
    course = ines.post("/api/v1/courses", json={"title": "X"}).json["id"]
    known, unknown = enrol(ines, course, "bob"), enrol(ines, course, "newcomer")
    assert known.status_code == unknown.status_code == 201
    assert set(known.json) == set(unknown.json)
    assert ({**known.json, "user": "", "created_at": ""}
            == {**unknown.json, "user": "", "created_at": ""})
    with app.app_context():  # the newcomer has a student account now, as a roster makes
        assert accounts.user_named(sessions.get_session(), "newcomer").role is Role.STUDENT
    # As an instructor: a student's account and no account get the same 422.
    users.add("sara")
    as_student = enrol(ines, course, "sara", "instructor")
    as_nobody = enrol(ines, course, "nobody", "instructor")
    assert as_student.status_code == as_nobody.status_code == 422
    assert (as_student.json["detail"], as_student.json["errors"][0]["pointer"]) == (
        as_nobody.json["detail"], as_nobody.json["errors"][0]["pointer"])
    assert as_nobody.json["errors"][0]["detail"] == "'nobody' has no instructor account"
    users.add("ivan", "instructor")
    assert enrol(ines, course, "ivan", "instructor").status_code == 201


def test_a_roster_tells_an_instructor_nothing_of_accounts_and_an_admin_everything(
        app, users):
    from grader.services import roster

    users.add("bob")  # an account ina has never seen
    ina = users.add("ina", "instructor")
    users.add("root", "admin")
    course = ina.post("/api/v1/courses", json={"title": "X"}).json["id"]
    with app.app_context():
        session = sessions.get_session()
        teacher = accounts.Caller.of(accounts.user_named(session, "ina"))
        report = roster.import_roster(session, teacher, course, "bob\nnewbie\n")
        assert [line.outcome.value for line in report.lines] == ["enrolled", "enrolled"]
        root = accounts.Caller.of(accounts.user_named(session, "root"))
        report = roster.import_roster(session, root, course, "bob\nnewbie\nnewer\n")
        assert [line.outcome.value for line in report.lines] == [
            "already", "already", "created"]


# ---------------------------------------------------------------- closed exercises


@pytest.fixture
def exam(app, users):
    """exam-item, closed to practice, owned by ines; otto teaches another course."""
    cast = {"ines": users.add("ines", "instructor"), "otto": users.add("otto", "instructor"),
            "ivy": users.add("ivy", "instructor"), "root": users.add("root", "admin"),
            "ann": users.add("ann")}
    assert cast["ines"].put_yaml("exam-item", EXAM_ITEM).status_code == 201
    return cast


def test_a_closed_exercises_solutions_are_for_its_owner_its_courses_and_admins(app, exam):
    path = "/api/v1/exercises/exam-item/solution?seed=1"
    assert {n: exam[n].get(path).status_code for n in ("ines", "otto", "ivy", "root")} == {
        "ines": 200, "otto": 403, "ivy": 403, "root": 200}
    refused = exam["otto"].get(path)
    assert refused.mimetype == PROBLEM and "owner" in refused.json["detail"]
    # Nor may otto practise it (its feedback would give the answers) or assign it.
    assert exam["otto"].get("/api/v1/exercises/exam-item").status_code == 403
    otto_course = exam["otto"].post("/api/v1/courses", json={"title": "Y"}).json["id"]
    assigned = exam["otto"].post(f"/api/v1/courses/{otto_course}/assignments",
                                 json={"exercise": "exam-item"})
    assert assigned.status_code == 422 and assigned.json["errors"][0]["pointer"] == "/exercise"
    # ivy teaches with ines a course that assigns it: she may read it then.
    course = exam["ines"].post("/api/v1/courses", json={"title": "X"}).json["id"]
    exam["ines"].post(f"/api/v1/courses/{course}/enrollments",
                      json={"user": "ivy", "role": "instructor"})
    assert exam["ivy"].get(path).status_code == 403  # not assigned yet
    assert exam["ines"].post(f"/api/v1/courses/{course}/assignments",
                             json={"exercise": "exam-item"}).status_code == 201
    assert exam["ivy"].get(path).status_code == 200
    assert exam["otto"].get(path).status_code == 403


def test_the_library_previews_and_text_of_a_closed_exercise(app, exam):
    pages = {}
    for name in ("ines", "otto", "root"):
        found = Browser(app)
        found.sign_in(name)
        pages[name] = found
    for name, status in (("ines", 200), ("otto", 403), ("root", 200)):
        assert pages[name].get("/instructor/exercises/exam-item/preview").status_code == status
        assert pages[name].get("/instructor/exercises/exam-item/edit").status_code == status
    library = pages["otto"].get("/instructor/exercises")
    assert library.status_code == 200 and "An exam item" in library.text
    links = [a["href"] for a in Elements(library.text).all("a") if "href" in a]
    assert "/instructor/exercises/exam-item/preview" not in links
    assert "/instructor/exercises/exam-item/preview" in [
        a["href"] for a in Elements(pages["ines"].get("/instructor/exercises").text).all("a")
        if "href" in a]
    with app.app_context():
        session = sessions.get_session()
        otto = accounts.Caller.of(accounts.user_named(session, "otto"))
        entry = next(e for e in exercise_library.library(session, otto)
                     if e.exercise_id == "exam-item")
        assert not entry.readable
        with pytest.raises(Forbidden):
            exercise_library.exercise_source(session, otto, "exam-item")
