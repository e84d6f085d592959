"""The pages around the exercises: home, signing in with a link and out, the language,
CSRF refusals, the headers every page carries, and errors as pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from page_client import Browser, Elements

from grader.models import Role
from grader.services import accounts


def test_the_root_tells_a_signed_out_visitor_how_to_sign_in(browser):
    page = browser.get("/")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "Ask your instructor for a sign-in link" in page.text
    assert '<html lang="en">' in page.text
    portuguese = browser.get("/", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    assert '<html lang="pt-BR">' in portuguese.text
    assert "Peça ao seu professor um link de acesso" in portuguese.text
    assert portuguese.headers["Content-Language"] == "pt-BR"


def test_pages_carry_the_security_headers(browser):
    page = browser.get("/")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy
    assert "frame-ancestors 'self'" in policy and "default-src 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert "X-Frame-Options" not in page.headers  # an LMS may frame the pages
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in page.text and " onclick=" not in page.text
    with browser.client.get("/static/grader.js") as script:
        assert script.status_code == 200
        assert script.headers["X-Content-Type-Options"] == "nosniff"
    with browser.client.get("/static/grader.css") as style:
        assert style.mimetype == "text/css"


def test_frame_ancestors_come_from_the_setting(make_app):
    app = make_app(frame_ancestors="'self' https://moodle.example.edu")
    policy = app.test_client().get("/").headers["Content-Security-Policy"]
    assert policy.endswith("frame-ancestors 'self' https://moodle.example.edu")


def test_a_link_asks_before_it_signs_in(browser, student):
    link = browser.link("sam")
    for _ in range(3):  # a link preview fetching it does not use it up
        page = browser.get(link)
        assert page.status_code == 200
        assert "Sign in as sam" in page.text
    [button] = Elements(page.text).all("button", type="submit", **{"class": "primary"})
    signed_in = browser.post(link)
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/"
    home = browser.get("/")
    assert "Signed in as sam" in home.text and "Your exercises" in home.text
    assert button is not None


def test_the_session_cookie_is_httponly_lax_and_expires(browser, student):
    response = browser.sign_in("sam")
    cookie = next(c for c in response.headers.getlist("Set-Cookie")
                  if c.startswith("grader_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Expires=" in cookie and "Secure" not in cookie


def test_the_cookie_is_secure_when_the_service_is_reached_over_https(make_app, users_of):
    app = make_app(base_url="https://grader.example.edu")
    users_of(app).add("sam")
    response = Browser(app).sign_in("sam")
    assert all("Secure" in c for c in response.headers.getlist("Set-Cookie"))


def test_a_used_expired_or_unknown_link_is_a_page_saying_so(browser, student, app):
    link = browser.link("sam")
    browser.get(link)
    token = browser.csrf()
    assert browser.client.post(link, data={"csrf_token": token}).status_code == 303
    browser.get("/")  # signed in now: the forms carry the session's token
    used = browser.post(link)
    assert used.status_code == 404 and "cannot be used" in used.text
    assert browser.get(link).status_code == 404
    assert browser.get("/sign-in/" + "x" * 43).status_code == 404
    assert browser.get("/sign-in/too-short").status_code == 404


def test_forms_without_the_browsers_token_are_refused(browser, student):
    link = browser.link("sam")
    browser.get(link)
    missing = browser.client.post(link, data={})
    assert missing.status_code == 403 and "This form has expired" in missing.text
    wrong = browser.client.post(link, data={"csrf_token": "0" * 64})
    assert wrong.status_code == 403
    other = Browser(browser.app)  # another browser's token does not work here
    other.get(link)
    assert browser.client.post(link, data={"csrf_token": other.csrf()}).status_code == 403
    assert browser.get(link).status_code == 200  # none of that used the link


def test_signing_out_ends_the_session(student_browser):
    student_browser.get("/")
    response = student_browser.post("/sign-out")
    assert response.status_code == 303
    assert any(c.startswith("grader_session=;") for c in response.headers.getlist("Set-Cookie"))
    assert "Ask your instructor" in student_browser.get("/").text
    assert student_browser.get("/exercises/branching").status_code == 401


def test_a_page_that_needs_a_user_says_how_to_sign_in(browser):
    page = browser.get("/exercises/branching")
    assert page.status_code == 401 and "Sign in to see this page" in page.text
    assert browser.get("/assignments/1").status_code == 401


def test_the_home_page_lists_courses_assignments_and_practice(student_browser, instructor,
                                                              load_bundled):
    load_bundled("branching", "sigmoid-neuron")
    course = instructor.post("/api/v1/courses", json={"title": "Redes <Neurais>"}).json["id"]
    instructor.post(f"/api/v1/courses/{course}/enrollments", json={"user": "sam"})
    due = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    assignment = instructor.post(f"/api/v1/courses/{course}/assignments", json={
        "exercise": "branching", "max_attempts": 3, "due_at": due.isoformat()}).json
    page = student_browser.get("/")
    assert "Redes &lt;Neurais&gt;" in page.text  # escaped
    assert f'href="/assignments/{assignment["id"]}"' in page.text
    assert "3 / 3" in page.text and due.isoformat() in page.text
    assert 'href="/exercises/sigmoid-neuron"' in page.text


def test_exercises_read_in_the_readers_language_where_the_spec_has_it(
        student_browser, instructor, load_bundled):
    load_bundled("branching", "sigmoid-neuron")
    course = instructor.post("/api/v1/courses", json={"title": "Redes"}).json["id"]
    instructor.post(f"/api/v1/courses/{course}/enrollments", json={"user": "sam"})
    instructor.post(f"/api/v1/courses/{course}/assignments", json={"exercise": "branching"})
    portuguese = {"Accept-Language": "pt-BR"}
    home = student_browser.get("/", headers=portuguese).text
    assert "Neurônio sigmoide, porta a porta" in home  # practice
    assert "Gradientes nas ramificações se somam" in home  # an assignment
    page = student_browser.get("/exercises/sigmoid-neuron", headers=portuguese).text
    assert "<h1>Neurônio sigmoide, porta a porta</h1>" in page
    assert "passo retrógrado" in page
    english = student_browser.get("/exercises/sigmoid-neuron",
                                  headers={"Accept-Language": "en"}).text
    assert "<h1>Sigmoid neuron, gate by gate</h1>" in english


def test_the_stored_language_wins_and_the_switch_stores_it(student_browser, student):
    page = student_browser.get("/", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in page.text
    switched = student_browser.post("/language", {"language": "pt-BR", "next": "/exercises/x"})
    assert switched.status_code == 303 and switched.headers["Location"] == "/exercises/x"
    again = student_browser.get("/", headers={"Accept-Language": "en"})
    assert '<html lang="pt-BR">' in again.text and "Seus exercícios" in again.text
    assert student.get("/api/v1/me").json["language"] == "pt_BR"  # the same preference


def test_a_signed_out_visitor_chooses_with_a_cookie(browser):
    browser.get("/", headers={"Accept-Language": "en"})
    response = browser.post("/language", {"language": "pt-BR", "next": "/"})
    assert response.status_code == 303
    assert any(c.startswith("grader_language=pt-BR") for c in
               response.headers.getlist("Set-Cookie"))
    page = browser.get("/", headers={"Accept-Language": "en"})
    assert '<html lang="pt-BR">' in page.text


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/", "/\\evil",
                                    "javascript:alert(1)"])
def test_the_language_switch_never_leaves_the_site(browser, target):
    browser.get("/")
    response = browser.post("/language", {"language": "en", "next": target})
    assert response.headers["Location"] == "/"


def test_every_page_has_landmarks_a_skip_link_and_a_language_switch(student_browser):
    page = student_browser.get("/")
    elements = Elements(page.text)
    assert elements.all("a", href="#main")
    assert elements.all("main", id="main") and elements.all("header") and elements.all("nav")
    languages = elements.all("button", name="language")
    assert [b["value"] for b in languages] == ["pt-BR", "en"]
    assert [b["lang"] for b in languages] == ["pt-BR", "en"]


def test_errors_are_pages_in_the_readers_language(student_browser):
    missing = student_browser.get("/exercises/no-such-exercise",
                                  headers={"Accept-Language": "pt-BR"})
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "não há exercício" in missing.text and "Não encontrado" in missing.text
    assert student_browser.get("/assignments/12345").status_code == 404


def test_an_unknown_address_is_a_page_for_a_person(student_browser):
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
            "Accept-Language": "pt-BR"}
    missing = student_browser.get("/no/such/page", headers=html)
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "Não encontrado" in missing.text
    assert "sam" in missing.text  # still signed in: the header says who
    assert "Content-Security-Policy" in missing.headers
    wrong_method = student_browser.client.delete("/", headers=html)
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "text/html"
    assert "GET" in wrong_method.headers["Allow"]
    # A program asking for JSON, and every path of the API, get problem+json.
    asked = student_browser.get("/no/such/page", headers={"Accept": "application/json"})
    assert asked.status_code == 404 and asked.mimetype == "application/problem+json"
    api = student_browser.get("/api/v1/nothing", headers=html)
    assert api.status_code == 404 and api.mimetype == "application/problem+json"


def test_the_api_keeps_answering_in_json(client, student):
    assert client.get("/api/v1/nothing").mimetype == "application/problem+json"
    assert student.get("/api/v1/exercises").status_code == 200
    assert "Set-Cookie" not in student.get("/api/v1/exercises").headers


def test_a_user_whose_account_is_gone_is_signed_out(app, student_browser):
    from sqlalchemy import delete

    from grader import sessions
    from grader.models import ApiToken, BrowserSession

    with app.app_context():
        session = sessions.get_session()
        session.execute(delete(BrowserSession))
        session.execute(delete(ApiToken))
        session.commit()
    page = student_browser.get("/")
    assert "Ask your instructor" in page.text
    assert any(c.startswith("grader_session=;") for c in page.headers.getlist("Set-Cookie"))


def test_user_language_preference_from_the_account(app, browser):
    with app.app_context():
        from grader import sessions

        accounts.create_user(sessions.get_session(), "lia", Role.STUDENT, "pt_BR")
    browser.sign_in("lia")
    assert '<html lang="pt-BR">' in browser.get("/", headers={"Accept-Language": "en"}).text


def test_the_home_page_shows_the_score_that_counts(student_browser, instructor, load_bundled,
                                                   student, right_answers):
    load_bundled("sigmoid-neuron-random")
    course = instructor.post("/api/v1/courses", json={"title": "Redes"}).json["id"]
    instructor.post(f"/api/v1/courses/{course}/enrollments", json={"user": "sam"})
    assignment = instructor.post(f"/api/v1/courses/{course}/assignments", json={
        "exercise": "sigmoid-neuron-random", "score_policy": "latest"}).json["id"]
    view = student.get(f"/api/v1/assignments/{assignment}").json
    url = f"/api/v1/assignments/{assignment}/attempts"
    student.post(url, json=right_answers(view))
    student.post(url, json={"forward": {}})
    home = student_browser.get("/", headers={"Accept-Language": "pt-BR"}).text
    row = home[home.index(f'href="/assignments/{assignment}"'):]
    row = row[:row.index("</tr>")]
    assert "0%" in row and "100%" not in row and "conta a última tentativa" in row
    page = student_browser.get(f"/assignments/{assignment}",
                               headers={"Accept-Language": "pt-BR"}).text
    assert "conta a última tentativa" in page
