"""The headers that keep answers from being run, framed, sniffed or cached where they
should not be: the API's (any answer that is not a page) and the pages'."""

from __future__ import annotations

import pytest

API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def assert_api_headers(response, *, authenticated: bool) -> None:
    assert response.headers["Content-Security-Policy"] == API_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    if authenticated:
        assert response.headers["Cache-Control"] == "no-store"


def test_an_authenticated_api_answer_is_data_and_never_cached(student):
    response = student.get("/api/v1/me")
    assert response.status_code == 200
    assert_api_headers(response, authenticated=True)


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/api/v1/exercises/no-such-exercise", 404),
    ("DELETE", "/api/v1/me", 405),
    ("POST", "/api/v1/exercises/branching/attempts", 415),
    ("GET", "/no/such/path", 404),
])
def test_api_problems_carry_the_headers(student, method, path, status):
    response = student.client.open(path, method=method, data=b"x", content_type="text/plain",
                                   headers={"Authorization": f"Bearer {student.token}"})
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert_api_headers(response, authenticated=True)


def test_anonymous_answers_carry_them_too(client):
    refused = client.get("/api/v1/me")
    assert refused.status_code == 401
    assert_api_headers(refused, authenticated=False)
    for path in ("/healthz", "/api/v1/openapi.json"):
        response = client.get(path)
        assert response.status_code == 200
        assert_api_headers(response, authenticated=False)
        assert "no-store" not in response.headers.get("Cache-Control", "")


def test_a_rate_limited_api_answer_carries_them(make_app, users_of):
    app = make_app(rate_limit_sign_in_user="1/minute")
    ines = users_of(app).add("ines", "instructor")
    course = ines.post("/api/v1/courses", json={"title": "Backprop"}).json["id"]
    ines.post(f"/api/v1/courses/{course}/sign-in-links")
    refused = ines.post(f"/api/v1/courses/{course}/sign-in-links")
    assert refused.status_code == 429
    assert_api_headers(refused, authenticated=True)


def page_policy(response) -> dict[str, str]:
    directives = (d.strip().split(" ", 1) for d in
                  response.headers["Content-Security-Policy"].split(";"))
    return {name: value for name, value in directives}


@pytest.mark.parametrize("path", ["/", "/exercises/no-such-exercise", "/static/grader.js"])
def test_pages_and_their_errors_keep_the_page_policy(student_browser, path):
    with student_browser.client.get(path) as response:
        check_page_headers(response)


def check_page_headers(response) -> None:
    policy = page_policy(response)
    assert policy["script-src"] == "'self'"
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'self'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_a_page_404_is_a_page_with_the_page_headers(student_browser):
    response = student_browser.get("/exercises/no-such-exercise")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_lmss_listed_may_frame_the_pages_and_no_other_site(make_app):
    lms = "'self' https://moodle.example.edu https://canvas.example.edu"
    app = make_app(frame_ancestors=lms)
    client = app.test_client()
    page = client.get("/")
    assert page_policy(page)["frame-ancestors"] == lms
    assert "X-Frame-Options" not in page.headers  # it would forbid the LMS too
    # The API's answers are never framed, whatever the pages allow.
    assert client.get("/healthz").headers["Content-Security-Policy"] == API_POLICY
