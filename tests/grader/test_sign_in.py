"""Sign-in links and browser sessions (grader.services.sign_in): single use, expiry,
secrets stored hashed, a link raced by many requests, sessions, CSRF tokens; the
command line's `grader user link` and the instructors' endpoint for a course."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from grader import service_cli, sessions
from grader.models import BrowserSession, Role, SignInLink, utcnow
from grader.services import accounts, sign_in
from grader.services.errors import NotFound


@pytest.fixture
def db_session(app):
    with app.app_context():
        yield sessions.get_session()


@pytest.fixture
def sam(db_session):
    return accounts.create_user(db_session, "sam", Role.STUDENT)


def test_a_link_signs_its_user_in_once(db_session, sam):
    link = sign_in.create_link(db_session, "sam", hours=72)
    assert sign_in.well_formed(link.secret)
    assert sign_in.link_owner(db_session, link.secret) == sam
    assert sign_in.link_owner(db_session, link.secret) == sam  # looking does not use it
    opened = sign_in.use_link(db_session, link.secret, session_hours=24)
    assert opened is not None and opened.caller == sam
    assert sign_in.caller_for_session(db_session, opened.secret) == sam
    assert sign_in.use_link(db_session, link.secret, session_hours=24) is None
    assert sign_in.link_owner(db_session, link.secret) is None


def test_links_and_sessions_keep_only_a_hash_of_their_secret(db_session, sam):
    link = sign_in.create_link(db_session, "sam", hours=1)
    opened = sign_in.use_link(db_session, link.secret, session_hours=1)
    stored_link = db_session.execute(select(SignInLink)).scalar_one()
    stored_session = db_session.execute(select(BrowserSession)).scalar_one()
    assert stored_link.secret_hash == hashlib.sha256(link.secret.encode()).hexdigest()
    assert stored_session.secret_hash == hashlib.sha256(opened.secret.encode()).hexdigest()
    assert link.secret not in stored_link.secret_hash
    assert opened.secret != link.secret


def test_a_link_expires_after_its_hours(db_session, sam):
    link = sign_in.create_link(db_session, "sam", hours=72)
    assert timedelta(hours=71.9) < link.expires_at - utcnow() <= timedelta(hours=72)
    db_session.execute(update(SignInLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    db_session.commit()
    assert sign_in.link_owner(db_session, link.secret) is None
    assert sign_in.use_link(db_session, link.secret, session_hours=1) is None


@pytest.mark.parametrize("secret", ["", "short", "x" * 43 + "y", "a/" * 21 + "b", "é" * 43])
def test_malformed_secrets_are_refused_before_the_database(db_session, secret):
    assert sign_in.link_owner(db_session, secret) is None
    assert sign_in.use_link(db_session, secret, session_hours=1) is None
    assert sign_in.caller_for_session(db_session, secret) is None


def test_an_unknown_user_has_no_link(db_session):
    with pytest.raises(NotFound):
        sign_in.create_link(db_session, "ghost", hours=1)


def test_a_link_raced_by_many_requests_signs_in_once(app, db_session, sam):
    link = sign_in.create_link(db_session, "sam", hours=1)
    racers = 8
    barrier = threading.Barrier(racers)
    opened, errors = [], []

    def race() -> None:
        with app.app_context():
            session = app.extensions["grader.sessionmaker"]()
            try:
                barrier.wait()
                opened.append(sign_in.use_link(session, link.secret, session_hours=1))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                session.close()

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len([o for o in opened if o is not None]) == 1
    assert len(db_session.execute(select(BrowserSession)).scalars().all()) == 1


def test_a_session_expires_and_ends_at_sign_out(db_session, sam):
    first = sign_in.use_link(db_session, sign_in.create_link(db_session, "sam", 1).secret, 24)
    second = sign_in.use_link(db_session, sign_in.create_link(db_session, "sam", 1).secret, 24)
    assert sign_in.caller_for_session(db_session, first.secret) == sam
    sign_in.end_session(db_session, first.secret)
    assert sign_in.caller_for_session(db_session, first.secret) is None
    assert sign_in.caller_for_session(db_session, second.secret) == sam  # the other browser
    db_session.execute(update(BrowserSession).values(expires_at=utcnow() - timedelta(1)))
    db_session.commit()
    assert sign_in.caller_for_session(db_session, second.secret) is None
    sign_in.end_session(db_session, "not a secret")  # nothing to end: no error


def test_signing_in_again_replaces_the_browsers_session(db_session, sam):
    first = sign_in.use_link(db_session, sign_in.create_link(db_session, "sam", 1).secret, 24)
    second = sign_in.use_link(db_session, sign_in.create_link(db_session, "sam", 1).secret, 24,
                              replacing=first.secret)
    assert sign_in.caller_for_session(db_session, first.secret) is None
    assert sign_in.caller_for_session(db_session, second.secret) == sam


def test_a_session_can_be_opened_for_a_user_known_another_way(db_session, sam):
    opened = sign_in.open_session(db_session, sam.id, session_hours=1)
    assert sign_in.caller_for_session(db_session, opened.secret) == sam
    with pytest.raises(NotFound):
        sign_in.open_session(db_session, 999_999, session_hours=1)


def test_csrf_tokens_belong_to_one_cookie_secret():
    secret, other = sign_in.new_secret(), sign_in.new_secret()
    token = sign_in.csrf_token(secret)
    assert sign_in.csrf_matches(secret, token)
    assert not sign_in.csrf_matches(other, token)
    assert not sign_in.csrf_matches(secret, None)
    assert not sign_in.csrf_matches(secret, "")
    assert not sign_in.csrf_matches(None, token)
    assert secret not in token


def test_the_url_is_the_base_url_and_the_links_path():
    link = sign_in.IssuedLink("sam", "s" * 43, utcnow())
    assert link.url("https://grader.example.edu/") == "https://grader.example.edu/sign-in/" + (
        "s" * 43)


# ---------------------------------------------------------------- command line


@pytest.fixture
def env(app, database_url, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("GRADER_BASE_URL", raising=False)
    return {"DATABASE_URL": database_url}


def test_user_link_prints_one_url_that_signs_in(runner, env, client):
    assert runner.invoke(service_cli.user, ["add", "ada"], env=env).exit_code == 0
    result = runner.invoke(service_cli.user, ["link", "ada"], env=env)
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert result.stdout == url + "\n"  # the URL alone on stdout
    assert url.startswith("http://127.0.0.1:8000/sign-in/")
    page = client.get(url.removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 200 and "ada" in page.text
    with_base = runner.invoke(service_cli.user, ["link", "ada", "--base-url",
                                                 "https://grader.example.edu/x/"], env=env)
    assert with_base.stdout.startswith("https://grader.example.edu/x/sign-in/")
    from_setting = runner.invoke(service_cli.user, ["link", "ada"],
                                 env={**env, "GRADER_BASE_URL": "https://g.example.edu"})
    assert from_setting.stdout.startswith("https://g.example.edu/sign-in/")


def test_user_link_refuses_unknown_users_and_bad_addresses(runner, env):
    unknown = runner.invoke(service_cli.user, ["link", "ghost"], env=env)
    assert unknown.exit_code == 1 and "no user" in unknown.output
    assert unknown.stdout == ""
    bad = runner.invoke(service_cli.user, ["link", "ghost", "--base-url", "ftp://x"], env=env)
    assert bad.exit_code == 1 and "GRADER_BASE_URL" in bad.output


# ---------------------------------------------------------------- the API


@pytest.fixture
def course(instructor, users):
    course_id = instructor.post("/api/v1/courses", json={"title": "Redes"}).json["id"]
    for name in ("sam", "ann"):
        users.add(name)
        instructor.post(f"/api/v1/courses/{course_id}/enrollments", json={"user": name})
    return course_id


def test_instructors_get_a_link_for_each_student(instructor, course, client):
    response = instructor.post(f"/api/v1/courses/{course}/sign-in-links")
    assert response.status_code == 201
    links = response.json
    assert [link["user"] for link in links] == ["ann", "sam"]  # students only, by name
    for link in links:
        assert link["url"].startswith("http://127.0.0.1:8000/sign-in/") and link["expires_at"]
    page = client.get(links[1]["url"].removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 200 and "sam" in page.text
    again = instructor.post(f"/api/v1/courses/{course}/sign-in-links").json
    assert {link["url"] for link in again}.isdisjoint(link["url"] for link in links)


def test_instructors_may_name_the_students(instructor, course):
    response = instructor.post(f"/api/v1/courses/{course}/sign-in-links",
                               json={"users": ["sam"]})
    assert response.status_code == 201
    assert [link["user"] for link in response.json] == ["sam"]
    refused = instructor.post(f"/api/v1/courses/{course}/sign-in-links",
                              json={"users": ["sam", "ines", "ghost"]})
    assert refused.status_code == 422
    assert [e["pointer"] for e in refused.json["errors"]] == ["/users/1", "/users/2"]
    for body in ({"users": []}, {"users": "sam"}, {"user": ["sam"]}):
        assert instructor.post(f"/api/v1/courses/{course}/sign-in-links",
                               json=body).status_code == 422


@pytest.mark.parametrize("role", ["admin", "instructor"])
def test_an_instructor_gets_no_link_for_a_staff_account_enrolled_as_a_student(
        instructor, course, users, admin, role):
    # Enrolling a staff account as a student must not hand the instructor its sessions.
    if role == "instructor":
        users.add("otto", "instructor")
    victim = "root" if role == "admin" else "otto"
    assert instructor.post(f"/api/v1/courses/{course}/enrollments",
                           json={"user": victim}).status_code == 201
    every = instructor.post(f"/api/v1/courses/{course}/sign-in-links")
    assert every.status_code == 201
    assert [link["user"] for link in every.json] == ["ann", "sam"]
    named = instructor.post(f"/api/v1/courses/{course}/sign-in-links",
                            json={"users": [victim]})
    assert named.status_code == 422
    ghost = instructor.post(f"/api/v1/courses/{course}/sign-in-links",
                            json={"users": ["ghost"]})
    assert named.json["errors"][0]["detail"].replace(victim, "X") == (
        ghost.json["errors"][0]["detail"].replace("ghost", "X"))  # says nothing more
    # An admin, who may act for anyone, still can.
    by_admin = admin.post(f"/api/v1/courses/{course}/sign-in-links", json={"users": [victim]})
    assert by_admin.status_code == 201


def test_an_instructors_link_stops_working_when_its_student_becomes_staff(
        app, instructor, course, client):
    from sqlalchemy import update

    from grader import sessions
    from grader.models import Role, User

    [link] = instructor.post(f"/api/v1/courses/{course}/sign-in-links",
                             json={"users": ["sam"]}).json
    with app.app_context():
        session = sessions.get_session()
        session.execute(update(User).where(User.username == "sam")
                        .values(role=Role.INSTRUCTOR))
        session.commit()
    path = link["url"].removeprefix("http://127.0.0.1:8000")
    page = client.get(path)
    assert page.status_code == 404  # the page says the link cannot be used
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    used = client.post(path, data={"csrf_token": csrf})
    assert used.status_code == 404 and "grader_session" not in used.headers.get(
        "Set-Cookie", "")


def test_only_the_courses_instructors_get_links(course, users):
    student = users.add("eve")
    assert student.post(f"/api/v1/courses/{course}/sign-in-links").status_code == 403
    other = users.add("otto", "instructor")
    assert other.post(f"/api/v1/courses/{course}/sign-in-links").status_code == 403
    assert other.post("/api/v1/courses/999/sign-in-links").status_code == 404
    anonymous = other.client.post(f"/api/v1/courses/{course}/sign-in-links")
    assert anonymous.status_code == 401


def test_the_openapi_document_lists_the_links_endpoint(client):
    document = client.get("/api/v1/openapi.json").json
    operation = document["paths"]["/api/v1/courses/{course_id}/sign-in-links"]["post"]
    assert operation["requestBody"]["required"] is False
    assert "201" in operation["responses"]
