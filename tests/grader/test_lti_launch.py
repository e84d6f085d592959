"""LTI 1.3 launches from the fake LMS: what a good launch does, and every rule that
refuses a bad one, each with its own test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fake_lms import (
    ASSISTANT,
    CLIENT_ID,
    INSTRUCTOR,
    LEARNER,
    LTI,
    FakeLms,
    Pending,
    new_key,
    pem,
)
from lti_helpers import fetch_form, launch, launch_form_of, login, register
from sqlalchemy import select

from grader import sessions
from grader.lti.launch import course_role
from grader.models import (
    CourseRole,
    Enrollment,
    LmsIdentity,
    LtiContext,
    LtiResourceLink,
    Role,
    User,
)


@pytest.fixture
def lms() -> Iterator[FakeLms]:
    found = FakeLms()
    yield found
    found.close()


@pytest.fixture
def registered(app, lms) -> FakeLms:
    register(app, lms)
    return lms


def refused(response: Any, *words: str) -> None:
    assert response.status_code == 400, (response.status_code, response.text[:500])
    assert response.mimetype == "text/html"
    assert "The launch from your LMS failed" in response.text
    for word in words:
        assert word in response.text, response.text


def one(app, statement):
    with app.app_context():
        return sessions.get_session().execute(statement).scalars().all()


def linked_assignment(app, client, lms, load_bundled) -> int:
    """An instructor's launch makes the course; the placement is linked to a new
    assignment on the page the tool shows them."""
    load_bundled("sigmoid-neuron")
    teacher = app.test_client()
    first = launch(teacher, lms, sub="teacher-1", roles=(INSTRUCTOR,))
    assert first.status_code == 303, first.text
    assert "/lti/links/" in first.headers["Location"]
    page = teacher.get(first.headers["Location"])
    assert page.status_code == 200
    from page_client import Elements

    csrf = Elements(page.text).all("input", name="csrf_token")[0]["value"]
    linked = teacher.post(first.headers["Location"],
                          data={"csrf_token": csrf, "exercise": "sigmoid-neuron"})
    assert linked.status_code == 303, linked.text
    return int(linked.headers["Location"].rsplit("/", 1)[1])


# ---------------------------------------------------------------- good launches


def test_a_student_launch_opens_the_assignment_signed_in(app, client, registered,
                                                         load_bundled):
    assignment = linked_assignment(app, client, registered, load_bundled)
    response = launch(client, registered, sub="student-1", roles=(LEARNER,))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/assignments/{assignment}"
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    users = one(app, select(User).join(LmsIdentity).where(LmsIdentity.subject == "student-1"))
    assert [(u.role, u.display_name, u.email) for u in users] == [
        (Role.STUDENT, "Name of student-1", "student-1@example.edu")]
    roles = one(app, select(Enrollment.role).where(Enrollment.user_id == users[0].id))
    assert roles == [CourseRole.STUDENT]
    assert registered.auth_problems == []


def test_a_second_launch_finds_the_same_user_course_and_placement(app, client, registered,
                                                                  load_bundled):
    linked_assignment(app, client, registered, load_bundled)
    for name in ("First name", "Changed name"):
        assert launch(client, registered, sub="student-1", name=name).status_code == 303
    assert len(one(app, select(LmsIdentity))) == 2  # the teacher and the student
    assert len(one(app, select(LtiContext))) == 1
    assert len(one(app, select(LtiResourceLink))) == 1
    names = one(app, select(User.display_name).join(LmsIdentity)
                .where(LmsIdentity.subject == "student-1"))
    assert names == ["Changed name"]


def test_an_instructor_on_an_unlinked_placement_is_asked_to_link_it(app, client, registered):
    response = launch(client, registered, sub="teacher-1", roles=(INSTRUCTOR,))
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/lti/links/")
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and "Link this activity" in page.text


def test_a_student_before_the_instructor_is_told_to_wait(client, registered):
    refused(launch(client, registered, sub="student-1"), "not set up yet")


def test_teaching_assistants_are_students_unless_the_platform_says_otherwise():
    assert course_role([ASSISTANT], assistants_teach=False) is CourseRole.STUDENT
    assert course_role([ASSISTANT], assistants_teach=True) is CourseRole.INSTRUCTOR
    assert course_role([INSTRUCTOR], assistants_teach=False) is CourseRole.INSTRUCTOR
    assert course_role(
        ["http://purl.imsglobal.org/vocab/lis/v2/membership#ContentDeveloper"],
        assistants_teach=False) is CourseRole.INSTRUCTOR
    assert course_role([LEARNER], assistants_teach=True) is CourseRole.STUDENT
    assert course_role("not a list", assistants_teach=True) is CourseRole.STUDENT


def test_the_launch_redirect_is_303_so_a_refresh_never_posts_the_token_again(
        app, client, registered, load_bundled):
    linked_assignment(app, client, registered, load_bundled)
    response = launch(client, registered)
    assert response.status_code == 303


# ---------------------------------------------------------------- login initiation


def test_login_accepts_get_and_post(client, registered):
    for method in (client.get, client.post):
        hint = registered.expect(Pending(registered.claims()))
        params = {"iss": registered.issuer, "login_hint": "student-1",
                  "target_link_uri": "http://127.0.0.1:8000/lti/launch",
                  "lti_message_hint": hint, "client_id": CLIENT_ID}
        response = (method("/lti/login", query_string=params) if method == client.get
                    else method("/lti/login", data=params))
        assert response.status_code == 302
        assert response.headers["Location"].startswith(registered.url + "/auth?")
        assert any(c.startswith("grader_lti_state_")
                   for c in response.headers.getlist("Set-Cookie"))


def test_login_from_an_unregistered_issuer_is_refused(client, registered):
    response = client.post("/lti/login", data={
        "iss": "https://unknown.example", "login_hint": "x", "target_link_uri": "y"})
    refused(response, "not registered")


def test_login_without_its_required_parameters_is_refused(client, registered):
    refused(client.post("/lti/login", data={"iss": registered.issuer}),
            "login_hint", "target_link_uri")


def test_login_from_an_unregistered_deployment_is_refused(client, registered):
    refused(login(client, registered, Pending(registered.claims()),
                  lti_deployment_id="other"), "deployment")


# ---------------------------------------------------------------- refused launches


def tampered(lms: FakeLms, change, **claims: Any) -> Pending:
    return Pending(lms.claims(**claims), tamper=change)


def test_a_replayed_nonce_is_refused(app, client, registered, load_bundled):
    linked_assignment(app, client, registered, load_bundled)
    form = launch_form_of(client, registered, Pending(registered.claims()))
    cookies = {c.key: c.value for c in client._cookies.values()
               if c.key.startswith("grader_lti_state_")}
    assert client.post("/lti/launch", data=form).status_code == 303
    for name, value in cookies.items():  # the state cookie as it was: only the nonce differs
        client.set_cookie(name, value)
    refused(client.post("/lti/launch", data=form), "nonce")


def test_a_state_that_is_not_the_browsers_is_refused(client, registered):
    form = launch_form_of(client, registered, Pending(registered.claims()))
    other = "y" if form["state"].startswith("x") else "x"  # a state that differs
    refused(client.post("/lti/launch", data={**form, "state": other + form["state"][1:]}),
            "state")


def test_a_launch_posted_by_another_browser_is_refused(app, client, registered):
    form = launch_form_of(client, registered, Pending(registered.claims()))
    refused(app.test_client().post("/lti/launch", data=form), "state")


def test_an_unregistered_issuer_is_refused(client, registered):
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update(iss="https://other.example"))), "issuer")


def test_an_audience_without_our_client_id_is_refused(client, registered):
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update(aud="someone-else"))), "audience")


def test_several_audiences_without_azp_are_refused(client, registered):
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update(aud=[CLIENT_ID, "someone-else"]))), "azp")


def test_an_azp_that_is_not_the_tool_is_refused(client, registered):
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update(aud=[CLIENT_ID, "other"], azp="other"))), "azp")
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update(azp="other"))), "azp")


def test_several_audiences_with_our_azp_are_accepted(app, client, registered, load_bundled):
    linked_assignment(app, client, registered, load_bundled)
    response = launch(client, registered, tampered(
        registered, lambda c: c.update(aud=[CLIENT_ID, "other"], azp=CLIENT_ID)))
    assert response.status_code == 303


def test_a_token_without_exp_is_refused(client, registered):
    refused(launch(client, registered, tampered(registered, lambda c: c.pop("exp"))), "exp")


def test_an_expired_token_is_refused(client, registered):
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update(exp=int(time.time()) - 120))), "expired")


def test_a_token_without_iat_is_refused(client, registered):
    refused(launch(client, registered, tampered(registered, lambda c: c.pop("iat"))), "iat")


def test_a_token_issued_beyond_the_leeway_in_the_future_is_refused(client, registered):
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update(iat=int(time.time()) + 120))), "future")


def test_a_token_issued_within_the_leeway_is_accepted(app, client, registered, load_bundled):
    linked_assignment(app, client, registered, load_bundled)
    response = launch(client, registered, tampered(
        registered, lambda c: c.update(iat=int(time.time()) + 30)))
    assert response.status_code == 303


def test_an_unknown_kid_makes_one_fresh_fetch_then_is_refused(client, registered):
    refused(launch(client, registered, Pending(registered.claims())), "not set up")
    fetched = registered.jwks_fetches
    assert fetched == 1
    pending = Pending(registered.claims(), headers={"kid": "no-such-key"})
    refused(launch(client, registered, pending), "key")
    assert registered.jwks_fetches == fetched + 1


def test_the_key_set_is_kept_as_its_cache_control_says(client, registered):
    registered.cache_control = "no-store"
    for _ in range(2):
        refused(launch(client, registered), "not set up")
    assert registered.jwks_fetches == 2
    registered.cache_control = "public, max-age=300"
    for _ in range(3):
        refused(launch(client, registered), "not set up")
    assert registered.jwks_fetches == 3


def test_a_rotated_platform_key_is_fetched_and_accepted(app, client, registered,
                                                        load_bundled):
    linked_assignment(app, client, registered, load_bundled)
    registered.key, registered.kid = new_key(), "lms-key-2"
    assert launch(client, registered).status_code == 303


def test_a_signature_by_another_key_is_refused(client, registered):
    pending = Pending(registered.claims(), key=pem(new_key()))
    refused(launch(client, registered, pending), "signature")


def test_alg_none_is_refused(client, registered):
    refused(launch(client, registered, Pending(registered.claims(), algorithm="none")),
            "RS256")


def test_hs256_is_refused(client, registered):
    pending = Pending(registered.claims(), algorithm="HS256", key="k" * 64)
    refused(launch(client, registered, pending), "RS256")


def test_an_unregistered_deployment_is_refused(client, registered):
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update({LTI + "deployment_id": "other"}))), "deployment")


def test_a_wrong_version_is_refused(client, registered):
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update({LTI + "version": "1.1"}))), "1.3.0")


def test_a_wrong_message_type_is_refused(client, registered):
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update({LTI + "message_type": "LtiSubmissionReviewRequest"}))),
        "message type")


def test_a_launch_without_a_token_or_with_garbage_is_refused(client, registered):
    refused(client.post("/lti/launch", data={"state": "x"}), "id_token")
    refused(client.post("/lti/launch", data={"state": "x", "id_token": "garbage"}))


def test_a_refused_launch_speaks_portuguese(client, registered):
    response = client.post("/lti/launch", data={"state": "x"},
                           headers={"Accept-Language": "pt-BR"})
    assert response.status_code == 400
    assert "A entrada pelo seu AVA falhou" in response.text


# ---------------------------------------------------------------- cookies in the frame


def test_over_https_the_state_and_session_cookies_work_in_the_lms_frame(
        make_app, lms, load_bundled):
    app = make_app(base_url="https://grader.example")
    register(app, lms)
    lms.redirect_uri = "https://grader.example/lti/launch"
    client = app.test_client()
    started = login(client, lms, Pending(lms.claims(sub="teacher-1", roles=(INSTRUCTOR,))),
                    base_url="https://grader.example")
    state_cookie = next(c for c in started.headers.getlist("Set-Cookie")
                        if c.startswith("grader_lti_state_"))
    assert "SameSite=None" in state_cookie and "Secure" in state_cookie
    form = fetch_form(started.headers["Location"])
    response = client.post("/lti/launch", data=form, base_url="https://grader.example")
    assert response.status_code == 303, response.text
    session_cookie = next(c for c in response.headers.getlist("Set-Cookie")
                          if c.startswith("grader_session="))
    assert "SameSite=None" in session_cookie and "Secure" in session_cookie


def test_a_sign_in_link_keeps_its_session_cookie_lax(make_app, users_of):
    from page_client import Browser

    app = make_app(base_url="https://grader.example")
    users_of(app).add("sam", "student")
    response = Browser(app).sign_in("sam")
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith("grader_session="))
    assert "SameSite=Lax" in cookie


# ---------------------------------------------------------------- bad input, never a 500


def test_nul_characters_anywhere_are_refused_not_stored(client, registered):
    refused(client.post("/lti/login", data={"iss": "x\x00", "login_hint": "a",
                                             "target_link_uri": "b"}))
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update(sub="student\x00"))), "not valid")
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update({LTI + "context": {"id": "c\x00"}}))), "not valid")


def test_a_token_with_an_issuer_holding_nul_is_refused(client, registered):
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update(iss="https://x\x00"))), "not valid")


def test_an_lms_whose_keys_cannot_be_fetched_is_refused_politely(app, client, lms):
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    register(app, lms, jwks_url=f"http://127.0.0.1:{port}/jwks")
    refused(launch(client, lms), "could not be fetched")


def test_expired_nonces_are_cleared_by_the_next_login(app, client, registered):
    from datetime import timedelta

    from grader.models import LtiNonce, utcnow

    login(client, registered, Pending(registered.claims()))
    with app.app_context():
        session = sessions.get_session()
        for nonce in session.execute(select(LtiNonce)).scalars():
            nonce.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    login(client, registered, Pending(registered.claims()))
    assert len(one(app, select(LtiNonce))) == 1


def test_only_the_courses_instructors_may_link_a_placement(app, client, registered):
    first = launch(client, registered, sub="teacher-1", roles=(INSTRUCTOR,))
    link_page = first.headers["Location"]
    student = app.test_client()
    launch(student, registered, sub="student-1", roles=(LEARNER,))  # not set up: refused
    assert student.get(link_page).status_code == 403
    other = app.test_client()
    launch(other, registered, sub="teacher-2", roles=(INSTRUCTOR,), context="course-2")
    assert other.get(link_page).status_code == 403


# ---------------------------------------------------------------- roles


INSTITUTION_INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"
SYSTEM_ADMINISTRATOR = "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"


def test_institution_and_system_roles_never_decide_the_course_role():
    for other in (INSTITUTION_INSTRUCTOR, SYSTEM_ADMINISTRATOR):
        assert course_role([LEARNER, other], assistants_teach=False) is CourseRole.STUDENT
        assert course_role([other], assistants_teach=True) is CourseRole.STUDENT
    assert course_role(["Instructor"], assistants_teach=False) is CourseRole.INSTRUCTOR
    assert course_role(["Learner", SYSTEM_ADMINISTRATOR],
                       assistants_teach=False) is CourseRole.STUDENT


def test_a_learner_who_teaches_elsewhere_in_the_institution_stays_a_student(
        app, client, registered, load_bundled):
    linked_assignment(app, client, registered, load_bundled)
    response = launch(client, registered, sub="student-1",
                      roles=(LEARNER, INSTITUTION_INSTRUCTOR, SYSTEM_ADMINISTRATOR))
    assert response.status_code == 303
    users = one(app, select(User).join(LmsIdentity).where(LmsIdentity.subject == "student-1"))
    assert [u.role for u in users] == [Role.STUDENT]
    roles = one(app, select(Enrollment.role).where(Enrollment.user_id == users[0].id))
    assert roles == [CourseRole.STUDENT]


# ---------------------------------------------------------------- values no column stores


@pytest.mark.parametrize("wanted", [str(10**30), 2**63, str(2**40), 2**31, "²", -1])
def test_a_custom_assignment_id_out_of_range_links_nothing(app, client, registered, wanted):
    response = launch(client, registered, sub="teacher-1", roles=(INSTRUCTOR,),
                      **{LTI + "custom": {"assignment_id": wanted}})
    assert response.status_code == 303, response.text
    assert "/lti/links/" in response.headers["Location"]


@pytest.mark.parametrize("subject", ["s" * 256, "", "   ", 12])
def test_a_subject_that_is_empty_or_longer_than_255_is_refused(client, registered, subject):
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update(sub=subject))), "subject")


def test_a_subject_of_255_characters_is_accepted(app, client, registered):
    response = launch(client, registered, tampered(
        registered, lambda c: c.update(sub="t" * 255), roles=(INSTRUCTOR,)))
    assert response.status_code == 303, response.text


@pytest.mark.parametrize("claim", ["iat", "exp"])
def test_times_that_are_booleans_are_refused(client, registered, claim):
    refused(launch(client, registered, tampered(
        registered, lambda c: c.update({claim: True}))), "iat")


@pytest.mark.parametrize("where", ["name", "email", "context"])
def test_a_lone_surrogate_in_a_claim_is_refused(client, registered, where):
    def change(claims):
        if where == "context":
            claims[LTI + "context"] = {"id": "course-1", "title": "N\ud800"}
        else:
            claims[where] = "x\ud800y"
    refused(launch(client, registered, tampered(registered, change, roles=(INSTRUCTOR,))),
            "not valid")


def test_linking_a_placement_to_an_id_out_of_range_is_a_clear_error(app, client, registered):
    first = launch(client, registered, sub="teacher-1", roles=(INSTRUCTOR,))
    page = client.get(first.headers["Location"])
    from page_client import Elements

    csrf = Elements(page.text).all("input", name="csrf_token")[0]["value"]
    for wanted in ("1" * 30, "²"):
        answer = client.post(first.headers["Location"],
                             data={"csrf_token": csrf, "assignment": wanted})
        assert answer.status_code == 422, answer.text
        assert "choose an assignment of this course" in answer.text


@pytest.mark.parametrize("where", ["context", "link"])
def test_ids_longer_than_255_are_refused_not_cut(app, client, registered, where):
    long_id = "i" * 256
    response = launch(client, registered, sub="teacher-1", roles=(INSTRUCTOR,),
                      **{where: long_id})
    refused(response, "longer than 255")
    fits = launch(app.test_client(), registered, sub="teacher-1", roles=(INSTRUCTOR,),
                  **{where: "i" * 255})
    assert fits.status_code == 303, fits.text
