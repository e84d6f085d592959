"""Deep Linking 2.0 with the fake LMS: an instructor places an exercise; the signed
answer reaches the LMS, which makes the placement and its gradebook column; a student
launches it, submits, and the score arrives once."""

from __future__ import annotations

import urllib.parse
import urllib.request

import pytest
from fake_lms import INSTRUCTOR, LEARNER, LTI
from lti_helpers import launch
from page_client import Elements
from sqlalchemy.orm import sessionmaker
from test_lti_passback import run_until_idle, submit_on_the_page

from grader import sessions
from grader.lti.services import LmsClient

DEEP_LINKING = "LtiDeepLinkingRequest"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"


def csrf_of(page) -> str:
    return Elements(page.text).all("input", name="csrf_token")[0]["value"]


def deep_link(app, lms, **form):
    teacher = app.test_client()
    started = launch(teacher, lms, sub="teacher-1", roles=(INSTRUCTOR,),
                     message_type=DEEP_LINKING)
    assert started.status_code == 303, started.text
    assert "/lti/deep-links/" in started.headers["Location"]
    page = teacher.get(started.headers["Location"])
    assert page.status_code == 200
    answer = teacher.post(started.headers["Location"],
                          data={"csrf_token": csrf_of(page), **form})
    return teacher, started.headers["Location"], answer


def post_to_lms(answer) -> int:
    (form,) = [f for f in Elements(answer.text).all("form", method="post")
               if f.get("action", "").endswith("/deep_link_return")]
    fields = {a["name"]: a["value"] for a in Elements(answer.text).all("input")
              if a.get("name") == "JWT"}
    body = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(urllib.request.Request(form["action"], data=body),
                                timeout=10) as response:
        return response.status


def test_an_instructor_places_an_exercise_and_a_students_score_arrives_once(
        app, lms, load_bundled):
    load_bundled("sigmoid-neuron")
    _teacher, _url, answer = deep_link(app, lms, exercise="sigmoid-neuron",
                                       max_attempts="3", feedback="score")
    assert answer.status_code == 200, answer.text
    assert lms.url in answer.headers["Content-Security-Policy"]  # the form may post there
    assert post_to_lms(answer) == 200
    (response,) = lms.deep_link_responses
    assert response["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == (
        "opaque-platform-data")
    assert response["aud"] == lms.issuer
    assert response[LTI + "deployment_id"] == "deployment-1"
    (item,) = response["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert item["type"] == "ltiResourceLink"
    assert item["lineItem"]["scoreMaximum"] == 100.0 and item["lineItem"]["label"]
    (placed,) = lms.placed
    student = app.test_client()
    claims = lms.claims(sub="student-1", roles=(LEARNER,), link=placed["link"])
    claims[LTI + "custom"] = placed["custom"]
    claims[AGS] = {**claims[AGS], "lineitem": placed["lineitem"]}
    from fake_lms import Pending

    opened = launch(student, lms, Pending(claims))
    assignment = int(placed["custom"]["assignment_id"])
    assert opened.headers["Location"] == f"/assignments/{assignment}"
    submit_on_the_page(student, assignment)
    session = sessionmaker(sessions.get_engine(app), expire_on_commit=False)()
    try:
        run_until_idle(session, LmsClient())
    finally:
        session.close()
    (score,) = lms.scores
    assert score["lineItem"] == placed["lineitem"] and score["userId"] == "student-1"
    assert len(lms.line_items) == 1  # the column deep linking made, reused


def test_an_existing_assignment_can_be_placed(app, lms, load_bundled):
    load_bundled("sigmoid-neuron")
    deep_link(app, lms, exercise="sigmoid-neuron")  # makes an assignment
    from sqlalchemy import select

    from grader.models import Assignment

    with app.app_context():
        (made,) = sessions.get_session().execute(select(Assignment.id)).scalars().all()
    _teacher, _url, answer = deep_link(app, lms, assignment=str(made))
    assert answer.status_code == 200
    assert post_to_lms(answer) == 200
    items = [r["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"][0]
             for r in lms.deep_link_responses]
    assert [i["custom"]["assignment_id"] for i in items] == [str(made)]


def test_a_deep_linking_request_is_used_once(app, lms, load_bundled):
    load_bundled("sigmoid-neuron")
    teacher, url, answer = deep_link(app, lms, exercise="sigmoid-neuron")
    assert answer.status_code == 200
    again = teacher.get(url)
    assert again.status_code == 404


def test_students_cannot_deep_link(app, lms):
    refused = launch(app.test_client(), lms, sub="student-1", roles=(LEARNER,),
                     message_type=DEEP_LINKING)
    assert refused.status_code == 400
    assert "Only the course&#39;s instructors may add activities" in refused.text


def test_an_assignment_id_out_of_range_is_a_clear_error(app, lms):
    _teacher, _url, answer = deep_link(app, lms, assignment="1" * 30)
    assert answer.status_code == 422, answer.text
    assert "choose an assignment of this course" in answer.text


def post_at_once(app, teacher, url: str, form: dict, count: int = 6) -> list:
    """The same form posted `count` times at once, each from its own connection with
    the teacher's session."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    cookie = teacher.get_cookie("grader_session")
    barrier = threading.Barrier(count)

    def post(_n):
        client = app.test_client()
        client.set_cookie("grader_session", cookie.value, domain=cookie.domain)
        barrier.wait()
        return client.post(url, data=form)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(post, range(count)))


def assignment_count(app) -> int:
    from sqlalchemy import func, select

    from grader.models import Assignment

    with app.app_context():
        return sessions.get_session().execute(select(func.count(Assignment.id))).scalar_one()


def test_a_form_posted_many_times_at_once_makes_one_assignment(app, lms, load_bundled):
    load_bundled("sigmoid-neuron")
    teacher = app.test_client()
    started = launch(teacher, lms, sub="teacher-1", roles=(INSTRUCTOR,),
                     message_type=DEEP_LINKING)
    url = started.headers["Location"]
    form = {"csrf_token": csrf_of(teacher.get(url)), "exercise": "sigmoid-neuron"}
    answers = post_at_once(app, teacher, url, form)
    assert sorted(a.status_code for a in answers) == [200, 404, 404, 404, 404, 404]
    assert assignment_count(app) == 1


def test_a_refused_choice_gives_the_request_back(app, lms, load_bundled):
    load_bundled("sigmoid-neuron")
    teacher, url, answer = deep_link(app, lms, assignment="999999")
    assert answer.status_code == 422
    again = teacher.post(url, data={"csrf_token": csrf_of(teacher.get(url)),
                                    "exercise": "sigmoid-neuron"})
    assert again.status_code == 200, again.text


def test_linking_a_placement_many_times_at_once_makes_one_assignment(app, lms, load_bundled):
    load_bundled("sigmoid-neuron")
    teacher = app.test_client()
    first = launch(teacher, lms, sub="teacher-1", roles=(INSTRUCTOR,))
    url = first.headers["Location"]
    form = {"csrf_token": csrf_of(teacher.get(url)), "exercise": "sigmoid-neuron"}
    answers = post_at_once(app, teacher, url, form)
    assert {a.status_code for a in answers} == {303}
    assert len({a.headers["Location"] for a in answers}) == 1
    assert assignment_count(app) == 1


DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"


def test_a_return_url_that_would_inject_into_the_csp_is_refused(app, lms):
    for bad in ("https://lms.example.edu; frame-ancestors *", "https://lms.example.edu/a b",
                "https://lms.example.edu/'x'", "https://lms.example.edu,https://evil.example",
                "https://lms.example.edu/" + "a" * 1000):
        claims = lms.claims(sub="teacher-1", roles=(INSTRUCTOR,), message_type=DEEP_LINKING)
        claims[DL_SETTINGS] = {**claims[DL_SETTINGS], "deep_link_return_url": bad}
        from fake_lms import Pending

        refused = launch(app.test_client(), lms, Pending(claims))
        assert refused.status_code == 400, (bad, refused.text)
        assert "no return address" in refused.text


def test_the_csp_form_action_takes_only_a_plain_origin(app):
    from grader.web.browser import content_security_policy

    with app.test_request_context():
        injected = content_security_policy(None, "https://lms.example.edu; frame-ancestors *")
        plain = content_security_policy(None, "https://lms.example.edu:8443/return?x=1")
    assert "form-action 'self';" in injected and "frame-ancestors *" not in injected
    assert "form-action 'self' https://lms.example.edu:8443;" in plain


@pytest.mark.parametrize("typed", ["²", "9" * 5000])
def test_an_odd_number_of_attempts_is_no_limit_not_a_500(app, lms, load_bundled, typed):
    load_bundled("sigmoid-neuron")
    _teacher, _url, answer = deep_link(app, lms, exercise="sigmoid-neuron",
                                       max_attempts=typed)
    assert answer.status_code == 200, answer.text


def test_a_retry_after_of_odd_digits_is_not_a_number_of_seconds():
    from grader.lti.services import MAX_RETRY_AFTER_SECONDS, retry_after_seconds

    assert retry_after_seconds("²") is None
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("9" * 400) == MAX_RETRY_AFTER_SECONDS


def test_the_placed_assignment_counts_the_attempt_the_instructor_chose(app, lms, load_bundled):
    from sqlalchemy import select

    from grader import sessions
    from grader.models import Assignment, ScorePolicy

    load_bundled("sigmoid-neuron")
    _teacher, _url, answer = deep_link(app, lms, exercise="sigmoid-neuron",
                                       score_policy="latest")
    assert answer.status_code == 200, answer.text
    with app.app_context():
        [policy] = sessions.get_session().execute(select(Assignment.score_policy)).scalars()
    assert policy is ScorePolicy.LATEST
