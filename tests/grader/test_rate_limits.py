"""Rate limits on submissions and sign-in links: per user and per address, shared by the
API and the pages, answered 429 with Retry-After (problem+json for the API, a page for
the pages), counted in Redis when REDIS_URL is set."""

from __future__ import annotations

import secrets

import pytest
from conftest import Users
from limits import parse_many
from page_client import Browser

from grader.config import ConfigError, load_settings

PROBLEM = "application/problem+json"
SUBMIT = "/api/v1/exercises/branching/attempts"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def limited(make_app, load_bundled):
    """An app with low limits (any not given stays generous), the branching exercise
    stored, and a way to add users with tokens."""

    def make(**limits):
        app = make_app(**limits)
        with app.app_context():
            load_bundled_into(app)
        return app, Users(app, app.test_client())

    def load_bundled_into(app):
        from conftest import bundled_text

        from grader import sessions
        from grader.services import exercises
        session = sessions.get_session()
        exercise = exercises.parse_exercise_text(bundled_text("branching"), max_bytes=None)
        exercises.store_exercise(session, exercise, owner=None)

    return make


def submit(caller, **headers):
    return caller.post(SUBMIT, json={"forward": {}}, headers=headers)


def attempts_of(caller) -> int:
    return len(caller.get(SUBMIT).json)


def test_a_user_over_the_submit_limit_gets_429_problem_with_retry_after(limited):
    _app, users = limited(rate_limit_submit_user="2/minute")
    sam = users.add("sam")
    assert [submit(sam).status_code for _ in range(2)] == [201, 201]
    refused = submit(sam)
    assert refused.status_code == 429
    assert refused.mimetype == PROBLEM
    problem = refused.json
    assert problem["status"] == 429 and problem["title"] == "Too Many Requests"
    assert problem["type"] == "urn:backprop-grader:problem:rate-limited"
    assert "Too many submissions from your account" in problem["detail"]
    assert "At most 2 in 60 s" in problem["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert attempts_of(sam) == 2  # the refused one stored nothing
    # Another user is not held back by sam's limit.
    assert submit(users.add("ann")).status_code == 201


def test_the_429_speaks_the_readers_language(limited):
    _app, users = limited(rate_limit_submit_user="1/minute")
    sam = users.add("sam")
    submit(sam)
    problem = submit(sam, **{"Accept-Language": "pt-BR"}).json
    assert problem["title"] == "Requisições demais"
    assert problem["detail"].startswith("Envios demais da sua conta.")
    assert "No máximo 1 em 60 s" in problem["detail"]


def test_the_address_limit_counts_every_user_behind_it(limited):
    _app, users = limited(rate_limit_submit_ip="3/minute")
    callers = [users.add(name) for name in ("ann", "bob", "cid", "dan")]
    assert [submit(c).status_code for c in callers] == [201, 201, 201, 429]
    assert "from your network address" in submit(callers[0]).json["detail"]
    other = callers[3].post(SUBMIT, json={"forward": {}},
                            environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 201


def test_x_forwarded_for_counts_only_behind_a_trusted_proxy(limited):
    _app, users = limited(rate_limit_submit_ip="1/minute")
    sam, ann = users.add("sam"), users.add("ann")
    assert submit(sam, **{"X-Forwarded-For": "10.0.0.1"}).status_code == 201
    # Not trusted: the header is the client's own claim, and both come from 127.0.0.1.
    assert submit(ann, **{"X-Forwarded-For": "10.0.0.2"}).status_code == 429

    _app, users = limited(rate_limit_submit_ip="1/minute", trusted_proxies=1)
    bob, cid = users.add("bob"), users.add("cid")
    assert submit(bob, **{"X-Forwarded-For": "10.0.0.1"}).status_code == 201
    assert submit(cid, **{"X-Forwarded-For": "10.0.0.2"}).status_code == 201
    assert submit(cid, **{"X-Forwarded-For": "10.0.0.1"}).status_code == 429


def test_pages_and_api_share_the_submit_limit_and_a_page_says_it(limited):
    app, users = limited(rate_limit_submit_user="2/minute")
    sam = users.add("sam")
    assert submit(sam).status_code == 201
    browser = Browser(app)
    browser.sign_in("sam")
    browser.get("/exercises/branching")
    fields = {**browser.form(), "forward:a": "1,5"}
    assert browser.post("/exercises/branching", fields).status_code == 303
    refused = browser.post("/exercises/branching", {**fields, "forward:a": "2,5"})
    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert "Too many submissions from your account" in refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert 'value="2,5"' in refused.text  # the boxes keep what was typed
    assert submit(sam).status_code == 429
    assert attempts_of(sam) == 2


def test_sign_in_links_are_limited_per_address(limited):
    app, users = limited(rate_limit_sign_in_ip="2/minute")
    users.add("sam")
    browser = Browser(app)
    link = browser.link("sam")
    assert browser.get(link).status_code == 200
    assert browser.post(link).status_code == 303
    refused = browser.get(link)
    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert "Too many sign-in requests" in refused.text
    assert int(refused.headers["Retry-After"]) >= 1
    assert browser.get(link, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code != 429


def test_creating_sign_in_links_is_limited_per_user(limited):
    _app, users = limited(rate_limit_sign_in_user="1/minute")
    ines = users.add("ines", "instructor")
    course = ines.post("/api/v1/courses", json={"title": "Backprop"}).json["id"]
    path = f"/api/v1/courses/{course}/sign-in-links"
    assert ines.post(path).status_code == 201
    refused = ines.post(path)
    assert refused.status_code == 429 and refused.mimetype == PROBLEM
    assert "Too many sign-in links requested from your account" in refused.json["detail"]
    assert int(refused.headers["Retry-After"]) >= 1


def test_the_429_is_documented_on_the_limited_operations(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    submit_op = paths["/api/v1/exercises/{exercise_id}/attempts"]["post"]
    assert "Retry-After" in submit_op["responses"]["429"]["headers"]
    assert "429" in paths["/api/v1/courses/{course_id}/sign-in-links"]["post"]["responses"]
    assert "429" not in paths["/api/v1/exercises/{exercise_id}/attempts"]["get"]["responses"]


def test_the_defaults_let_a_class_of_500_submit_three_times_in_a_minute():
    settings = load_settings(database_url="sqlite://", secret_key="s" * 48)

    def per_minute(value: str) -> float:
        return min(rate.amount * 60 / rate.get_expiry() for rate in parse_many(value))

    # One campus NAT: 500 students x 3 submissions, all in the last minute.
    assert per_minute(settings.rate_limit_submit_ip) >= 2 * 500 * 3
    # A person submits at most every few seconds; a script hammering is held back.
    assert 3 < per_minute(settings.rate_limit_submit_user) <= 60
    # Each student opens their link and presses the button: 2 requests.
    assert per_minute(settings.rate_limit_sign_in_ip) >= 2 * 500


@pytest.mark.parametrize(("setting", "value", "variable"), [
    ("rate_limit_submit_user", "30/fortnight", "GRADER_RATE_LIMIT_SUBMIT_USER"),
    ("rate_limit_sign_in_ip", "0/minute", "GRADER_RATE_LIMIT_SIGN_IN_IP"),
    ("redis_url", "http://127.0.0.1:6379", "REDIS_URL"),
    ("trusted_proxies", -1, "GRADER_TRUSTED_PROXIES"),
])
def test_a_bad_limit_setting_stops_the_service_naming_it(setting, value, variable):
    with pytest.raises(ConfigError, match=variable):
        load_settings(**{setting: value})


def redis_reachable() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def test_limits_are_counted_in_redis_across_processes(limited):
    if not redis_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (apt-get install redis-server)")
    import redis

    prefix = f"grader-test-{secrets.token_hex(6)}"
    store = redis.Redis.from_url(REDIS_URL)
    try:
        _app, users = limited(rate_limit_submit_user="2/minute", redis_url=REDIS_URL,
                              rate_limit_prefix=prefix)
        sam = users.add("sam")
        assert [submit(sam).status_code for _ in range(2)] == [201, 201]
        assert store.keys(f"*{prefix}*")  # the counters are in Redis
        # Another app (another worker, or a replica) sees the same counters: sam's user
        # id is the same in the shared database.
        second, _users = limited(rate_limit_submit_user="2/minute", redis_url=REDIS_URL,
                                 rate_limit_prefix=prefix)
        again = second.test_client().post(
            SUBMIT, json={"forward": {}}, headers={"Authorization": f"Bearer {sam.token}"})
        assert again.status_code == 429
        assert int(again.headers["Retry-After"]) >= 1
    finally:
        for key in store.scan_iter(f"*{prefix}*"):
            store.delete(key)
        store.close()


def test_an_unreachable_redis_never_refuses_a_submission(limited):
    _app, users = limited(rate_limit_submit_user="2/minute",
                          redis_url="redis://127.0.0.1:1/0")
    sam = users.add("sam")
    # Each worker counts in its own memory meanwhile: still limited, never failing.
    assert [submit(sam).status_code for _ in range(3)] == [201, 201, 429]
