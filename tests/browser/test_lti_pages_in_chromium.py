"""Launching from an LMS in Chromium: the fake LMS's login page posts the launch, the
instructor links the placement, a student lands on the assignment inside a frame of
another origin, and a refused launch explains itself; axe-core on every page."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from chromium_site import REPO

sys.path.insert(0, str(REPO / "tests" / "grader"))

from fake_lms import CLIENT_ID, DEPLOYMENT_ID, INSTRUCTOR, LEARNER, FakeLms, Pending
from test_pages_in_chromium import assert_accessible


@pytest.fixture(scope="module")
def lms(site) -> Iterator[FakeLms]:
    from grader import sessions
    from grader.lti import platforms
    from grader.lti.platforms import PlatformFields

    found = FakeLms()
    found.redirect_uri = site.url + "/lti/launch"
    with site.app.app_context():
        platforms.add_platform(sessions.get_session(), None,
                               PlatformFields(**found.registration()))
    yield found
    found.close()


def login_url(site, lms: FakeLms, pending: Pending) -> str:
    hint = lms.expect(pending)
    return site.url + "/lti/login?" + urlencode({
        "iss": lms.issuer, "login_hint": pending.claims["sub"],
        "target_link_uri": site.url + "/lti/launch", "lti_message_hint": hint,
        "client_id": CLIENT_ID, "lti_deployment_id": DEPLOYMENT_ID})


def launch_in(page, site, lms: FakeLms, pending: Pending) -> None:
    """What the LMS's page does: open the login, then post its form."""
    page.goto(login_url(site, lms, pending))
    with page.expect_navigation():  # the POST and the redirect that answers it
        page.evaluate("document.forms[0].submit()")


def test_an_instructor_links_a_placement_and_a_student_opens_it(new_page, site, lms,
                                                                 screenshot):
    teacher = new_page()
    launch_in(teacher, site, lms, Pending(lms.claims(sub="t-browser", roles=(INSTRUCTOR,),
                                                     context="c-browser", link="l-1")))
    assert "/lti/links/" in teacher.url
    screenshot(teacher, "link-page")
    assert_accessible(teacher)
    teacher.get_by_role("button", name="Create and link").click()
    teacher.wait_for_url("**/assignments/*")
    assignment_url = teacher.url

    student = new_page()
    launch_in(student, site, lms, Pending(lms.claims(sub="s-browser", roles=(LEARNER,),
                                                     context="c-browser", link="l-1")))
    assert student.url == assignment_url
    screenshot(student, "assignment-after-launch")
    assert_accessible(student)


def test_a_refused_launch_shows_why_in_portuguese(new_page, site, lms, screenshot):
    page = new_page(locale="pt-BR", extra_http_headers={"Accept-Language": "pt-BR"})
    claims = lms.claims(sub="s-refused", roles=(LEARNER,), context="c-unknown")
    launch_in(page, site, lms, Pending(claims))
    assert "A entrada pelo seu AVA falhou" in page.content()
    screenshot(page, "refused")
    assert_accessible(page)


def test_an_instructor_adds_an_activity_by_deep_linking(new_page, site, lms, screenshot):
    page = new_page()
    launch_in(page, site, lms, Pending(lms.claims(
        sub="t-deep", roles=(INSTRUCTOR,), context="c-deep",
        message_type="LtiDeepLinkingRequest")))
    assert "/lti/deep-links/" in page.url
    screenshot(page, "deep-link-choices")
    assert_accessible(page)
    page.get_by_label("Attempts allowed (empty: no limit)").fill("3")
    page.get_by_role("button", name="Add to the LMS").first.click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name="Return to the LMS").is_visible()
    screenshot(page, "deep-link-return")
    assert_accessible(page)
