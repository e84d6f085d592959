"""Names and Role Provisioning: the roster page pulls the LMS membership, every page of
it, and enrols everyone with the LMS's role."""

from __future__ import annotations

import pytest
from fake_lms import ASSISTANT, INSTRUCTOR, LEARNER, NOT_HTTP, Failures
from lti_helpers import launch
from page_client import Elements
from sqlalchemy import select

from grader import sessions
from grader.models import CourseRole, Enrollment, LmsIdentity, LtiContext, Role, User


def member(sub: str, role: str, status: str = "Active") -> dict:
    return {"user_id": sub, "roles": [role], "name": f"Name {sub}",
            "email": f"{sub}@example.edu", "status": status}


def course_page(app, client):
    with app.app_context():
        course_id = sessions.get_session().execute(select(LtiContext.course_id)).scalar_one()
    return course_id, client.get(f"/instructor/courses/{course_id}")


def test_the_roster_button_enrols_every_active_member_of_every_page(app, lms):
    lms.members = [member("s1", LEARNER), member("s2", LEARNER), member("ta", ASSISTANT),
                   member("gone", LEARNER, "Inactive"), member("t2", INSTRUCTOR),
                   member("s3", LEARNER)]
    teacher = app.test_client()
    assert launch(teacher, lms, sub="teacher-1", roles=(INSTRUCTOR,)).status_code == 303
    course_id, page = course_page(app, teacher)
    assert page.status_code == 200 and "Enrol everyone in the LMS course" in page.text
    csrf = Elements(page.text).all("input", name="csrf_token")[0]["value"]
    pulled = teacher.post(f"/instructor/courses/{course_id}/lms-roster",
                          data={"csrf_token": csrf})
    assert pulled.status_code == 200, pulled.text
    assert "5 members, 5 newly enrolled" in pulled.text
    with app.app_context():
        rows = sessions.get_session().execute(
            select(LmsIdentity.subject, Enrollment.role, User.display_name)
            .join(User, User.id == LmsIdentity.user_id)
            .join(Enrollment, Enrollment.user_id == User.id)
            .where(Enrollment.course_id == course_id)).all()
    assert sorted(rows) == [
        ("s1", CourseRole.STUDENT, "Name s1"), ("s2", CourseRole.STUDENT, "Name s2"),
        ("s3", CourseRole.STUDENT, "Name s3"), ("t2", CourseRole.INSTRUCTOR, "Name t2"),
        ("ta", CourseRole.STUDENT, "Name ta"),
        ("teacher-1", CourseRole.INSTRUCTOR, "Name of teacher-1")]
    again = teacher.post(f"/instructor/courses/{course_id}/lms-roster",
                         data={"csrf_token": csrf})
    assert "5 members, 0 newly enrolled" in again.text


def test_a_member_the_roster_enrolled_launches_as_the_same_user(app, lms, load_bundled):
    lms.members = [member("student-1", LEARNER)]
    teacher = app.test_client()
    launch(teacher, lms, sub="teacher-1", roles=(INSTRUCTOR,))
    course_id, page = course_page(app, teacher)
    csrf = Elements(page.text).all("input", name="csrf_token")[0]["value"]
    teacher.post(f"/instructor/courses/{course_id}/lms-roster", data={"csrf_token": csrf})
    launch(app.test_client(), lms, sub="student-1")
    with app.app_context():
        assert len(sessions.get_session().execute(
            select(LmsIdentity).where(LmsIdentity.subject == "student-1")).all()) == 1


def test_an_lms_that_does_not_answer_is_reported_on_the_page(app, lms):
    teacher = app.test_client()
    launch(teacher, lms, sub="teacher-1", roles=(INSTRUCTOR,))
    course_id, page = course_page(app, teacher)
    csrf = Elements(page.text).all("input", name="csrf_token")[0]["value"]
    lms.close()
    response = teacher.post(f"/instructor/courses/{course_id}/lms-roster",
                            data={"csrf_token": csrf})
    assert response.status_code == 502
    assert "The LMS did not give the membership" in response.text


def test_a_course_without_an_lms_has_no_roster_button(instructor, app):
    from page_client import Browser

    browser = Browser(app)
    browser.sign_in("ines")
    response = instructor.post("/api/v1/courses", json={"title": "Plain"})
    page = browser.get(f"/instructor/courses/{response.json['id']}")
    assert page.status_code == 200
    assert "Enrol everyone in the LMS course" not in page.text


def pull(app, lms):
    teacher = app.test_client()
    launch(teacher, lms, sub="teacher-1", roles=(INSTRUCTOR,))
    course_id, page = course_page(app, teacher)
    csrf = Elements(page.text).all("input", name="csrf_token")[0]["value"]
    return course_id, teacher.post(f"/instructor/courses/{course_id}/lms-roster",
                                   data={"csrf_token": csrf})


def test_an_institution_role_in_the_roster_does_not_make_an_instructor(app, lms):
    lms.members = [{"user_id": "s1", "status": "Active", "roles": [
        LEARNER, "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor",
        "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"]}]
    _, pulled = pull(app, lms)
    assert pulled.status_code == 200, pulled.text
    with app.app_context():
        rows = sessions.get_session().execute(
            select(Enrollment.role, User.role)
            .join(User, User.id == Enrollment.user_id)
            .join(LmsIdentity, LmsIdentity.user_id == User.id)
            .where(LmsIdentity.subject == "s1")).all()
    assert rows == [(CourseRole.STUDENT, Role.STUDENT)]


@pytest.mark.parametrize("body", [{"members": 5}, {"members": {"a": 1}}, [1, 2], "text"])
def test_a_membership_that_is_not_one_is_reported_on_the_page(app, lms, body):
    lms.membership_body = body
    _, pulled = pull(app, lms)
    assert pulled.status_code == 502, pulled.text
    assert "The LMS did not give the membership" in pulled.text


def test_a_membership_answer_that_is_not_http_is_reported_on_the_page(app, lms):
    lms.failures["memberships"] = Failures([NOT_HTTP, NOT_HTTP])
    _, pulled = pull(app, lms)
    assert pulled.status_code == 502, pulled.text
    assert "The LMS did not give the membership" in pulled.text


def test_broken_names_lose_their_unstorable_characters_and_broken_ids_are_skipped(app, lms):
    lms.members = [
        {"user_id": "s1", "roles": [LEARNER], "name": "Ana\ud800 Souza\x00",
         "email": "a\udfff@example.edu"},
        {"user_id": "u" * 256, "roles": [LEARNER], "name": "Too long"},
        {"user_id": "", "roles": [LEARNER], "name": "Empty"},
        {"user_id": "s\ud800", "roles": [LEARNER], "name": "Broken id"}]
    _, pulled = pull(app, lms)
    assert pulled.status_code == 200, pulled.text
    assert "1 members, 1 newly enrolled" in pulled.text
    with app.app_context():
        rows = sessions.get_session().execute(
            select(LmsIdentity.subject, User.display_name, User.email)
            .join(User, User.id == LmsIdentity.user_id)).all()
    assert sorted(rows) == [("s1", "Ana Souza", "a@example.edu"),
                            ("teacher-1", "Name of teacher-1", "teacher-1@example.edu")]
