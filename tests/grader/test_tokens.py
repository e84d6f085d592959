"""API tokens: names, expiry, last use; listing and revocation by owners and admins."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from grader import sessions
from grader.models import ApiToken, utcnow
from grader.services import accounts, tokens
from grader.services.accounts import LAST_USE_GRANULARITY, CallerCache, caller_for_token
from grader.services.errors import Forbidden, NotFound, ValidationFailed

PROBLEM = "application/problem+json"
TOKENS = "/api/v1/tokens"
EXERCISES = "/api/v1/exercises"
SUBMIT = "/api/v1/exercises/sigmoid-neuron-random/attempts"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_row(app, token: str) -> ApiToken:
    public_id = token.split("_")[1]
    with app.app_context():
        session = sessions.get_session()
        return session.execute(
            select(ApiToken).where(ApiToken.public_id == public_id)).scalar_one()


def token_id(app, token: str) -> int:
    return token_row(app, token).id


def age_token(app, token: str, **values) -> None:
    public_id = token.split("_")[1]
    with app.app_context():
        session = sessions.get_session()
        session.execute(update(ApiToken).where(ApiToken.public_id == public_id).values(**values))
        session.commit()


def add_token(app, username: str, **options) -> str:
    with app.app_context():
        return accounts.create_token(sessions.get_session(), username, **options)


# ---------------------------------------------------------------- expiry


def test_an_expired_token_is_refused_like_a_revoked_one(app, client, student):
    token = add_token(app, student.username, expires_at=utcnow() - timedelta(seconds=1))
    response = client.get(EXERCISES, headers=bearer(token))
    assert response.status_code == 401
    assert response.mimetype == PROBLEM
    assert "expired" in response.json["detail"]
    assert student.get(EXERCISES).status_code == 200  # the user's other token still works


def test_an_expired_token_is_refused_on_the_submit_path(app, client, student, load_bundled):
    load_bundled("sigmoid-neuron-random")
    token = add_token(app, student.username, expires_at=utcnow() - timedelta(seconds=1))
    response = client.post(SUBMIT, json={"forward": {}}, headers=bearer(token))
    assert response.status_code == 401
    assert response.mimetype == PROBLEM


def test_a_token_is_accepted_until_its_expiry_and_refused_after_even_when_cached(
        make_app, users_of):
    app = make_app(token_cache_seconds=10)
    ann = users_of(app).add("ann")
    client = app.test_client()
    token = add_token(app, "ann", expires_at=utcnow() + timedelta(seconds=1))
    assert client.get(EXERCISES, headers=bearer(token)).status_code == 200  # cached now
    time.sleep(1.1)
    assert client.get(EXERCISES, headers=bearer(token)).status_code == 401
    assert ann.get(EXERCISES).status_code == 200


def test_a_cache_entry_never_outlives_the_tokens_expiry():
    clock = Clock()
    cache = CallerCache(10, clock=clock)
    ann = accounts.Caller(1, "ann", accounts.Role.STUDENT)
    cache.put("a", "h", ann, cache.generation(), valid_for=2.0)
    cache.put("b", "h", ann, cache.generation(), valid_for=60.0)
    cache.put("c", "h", ann, cache.generation(), valid_for=-1.0)  # expired meanwhile
    clock.now += 1.9
    assert cache.get("a") is not None and cache.get("c") is None
    clock.now += 0.2
    assert cache.get("a") is None and cache.get("b") is not None
    clock.now += 8
    assert cache.get("b") is None  # the cache's own bound, 10 s


def test_an_expiry_in_the_past_is_refused_at_creation(app, student):
    with app.app_context(), pytest.raises(ValidationFailed) as refused:
        tokens.create_token(sessions.get_session(), student.username, "ci",
                            utcnow() - timedelta(minutes=1))
    assert refused.value.errors[0]["pointer"] == "/expires_at"
    response = student.post(TOKENS, json={"name": "ci", "expires_at": "2020-01-01T00:00:00Z"})
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert [e["pointer"] for e in response.json["errors"]] == ["/expires_at"]


# ---------------------------------------------------------------- revocation


def test_a_token_revoked_through_the_api_is_refused_at_once_though_cached(make_app, users_of):
    app = make_app(token_cache_seconds=10)
    ann = users_of(app).add("ann")
    client = app.test_client()
    spare = add_token(app, "ann", name="spare")
    assert client.get(EXERCISES, headers=bearer(spare)).status_code == 200  # cached now
    response = ann.delete(f"{TOKENS}/{token_id(app, spare)}")
    assert response.status_code == 204
    assert response.data == b""
    refused = client.get(EXERCISES, headers=bearer(spare))
    assert refused.status_code == 401
    assert refused.mimetype == PROBLEM
    assert ann.get(EXERCISES).status_code == 200  # only that token


def test_a_token_revoked_by_an_admin_is_refused_at_once_though_cached(make_app, users_of):
    app = make_app(token_cache_seconds=10)
    people = users_of(app)
    ann, root = people.add("ann"), people.add("root", "admin")
    assert ann.get(EXERCISES).status_code == 200  # cached now
    assert root.delete(f"{TOKENS}/{token_id(app, ann.token)}").status_code == 204
    assert ann.get(EXERCISES).status_code == 401


def test_a_token_revoked_elsewhere_is_refused_within_the_caches_lifetime(make_app, users_of):
    clock = Clock()
    app = make_app(token_cache_seconds=5)
    app.extensions["grader.caller_cache"] = CallerCache(5, clock=clock)
    ann = users_of(app).add("ann")
    assert ann.get(EXERCISES).status_code == 200
    with app.app_context():  # as another process would: `grader token revoke`
        tokens.revoke_token(sessions.get_session(), token_id(app, ann.token))
    clock.now += 4.9
    assert ann.get(EXERCISES).status_code == 200  # within the documented lifetime
    clock.now += 0.1
    assert ann.get(EXERCISES).status_code == 401


def test_a_lookup_read_before_a_revocation_does_not_cache_the_token(app, student):
    cache = CallerCache(60)
    with app.app_context():
        session = sessions.get_session()
        read_at = cache.generation()  # a lookup reads the database ...
        info = tokens.revoke_token(session, token_id(app, student.token), cache=cache)
        caller = accounts.Caller(1, student.username, accounts.Role.STUDENT)
        cache.put(info.prefix.split("_")[1], "h", caller, read_at)  # ... and finishes late
        assert cache.get(info.prefix.split("_")[1]) is None
        assert caller_for_token(session, student.token, cache) is None


def test_revoking_again_keeps_the_first_time(app, student):
    first = student.delete(f"{TOKENS}/{token_id(app, student.token)}")
    assert first.status_code == 204
    with app.app_context():
        session = sessions.get_session()
        revoked_at = tokens.revoke_token(session, token_id(app, student.token)).revoked_at
        assert tokens.revoke_token(session, token_id(app, student.token)).revoked_at == revoked_at


def test_someone_elses_token_is_not_found_and_keeps_working(app, users, student):
    bob = users.add("bob")
    response = bob.delete(f"{TOKENS}/{token_id(app, student.token)}")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    unknown = bob.delete(f"{TOKENS}/{token_id(app, student.token) + 1000}")
    assert unknown.status_code == 404
    assert unknown.json["title"] == response.json["title"]  # nothing tells them apart
    assert student.get(EXERCISES).status_code == 200
    assert bob.delete(f"{TOKENS}/99999999999").status_code == 404  # past the id range


def test_an_instructor_cannot_revoke_a_students_token(app, instructor, student):
    assert instructor.delete(f"{TOKENS}/{token_id(app, student.token)}").status_code == 404
    with app.app_context(), pytest.raises(NotFound):
        tokens.revoke_token(sessions.get_session(), token_id(app, student.token),
                            by=accounts.Caller(token_row(app, instructor.token).user_id,
                                               instructor.username, accounts.Role.INSTRUCTOR))


# ---------------------------------------------------------------- listing


def test_the_listing_shows_each_token_but_never_a_secret(app, student):
    made = student.post(TOKENS, json={"name": "laptop", "expires_at": "2099-01-01T00:00:00Z"})
    assert made.status_code == 201
    new = made.json
    assert new["token"].startswith(new["prefix"] + "_")
    assert new["name"] == "laptop" and new["expires_at"].startswith("2099-01-01T00:00:00")
    assert new["active"] is True and new["last_used_at"] is None
    assert student.client.get(EXERCISES, headers=bearer(new["token"])).status_code == 200
    listed = student.get(TOKENS)
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json] == ["", "laptop"]
    secrets = [t.split("_", 2)[2] for t in (student.token, new["token"])]
    for secret in secrets:
        assert secret not in listed.get_data(as_text=True)
    assert all("token" not in t for t in listed.json)
    assert {t["user"] for t in listed.json} == {student.username}
    assert listed.json[1]["last_used_at"] is not None


def test_the_listing_marks_revoked_and_expired_tokens(app, student):
    old = add_token(app, student.username, name="old")
    age_token(app, old, expires_at=utcnow() - timedelta(days=1))
    gone = add_token(app, student.username, name="gone")
    assert student.delete(f"{TOKENS}/{token_id(app, gone)}").status_code == 204
    listed = {t["name"]: t for t in student.get(TOKENS).json}
    assert listed["old"]["active"] is False and listed["old"]["revoked_at"] is None
    assert listed["gone"]["active"] is False and listed["gone"]["revoked_at"] is not None
    assert listed[""]["active"] is True


def test_only_admins_list_another_users_tokens(app, admin, student, users):
    bob = users.add("bob")
    assert student.get(TOKENS, query_string={"user": "sam"}).status_code == 200
    forbidden = bob.get(TOKENS, query_string={"user": "sam"})
    assert forbidden.status_code == 403
    assert forbidden.mimetype == PROBLEM
    listed = admin.get(TOKENS, query_string={"user": "sam"})
    assert listed.status_code == 200
    assert [t["user"] for t in listed.json] == ["sam"]
    assert [t["id"] for t in listed.json] == [token_id(app, student.token)]
    assert admin.get(TOKENS, query_string={"user": "ghost"}).status_code == 404
    assert [t["user"] for t in admin.get(TOKENS).json] == ["root"]
    with app.app_context(), pytest.raises(Forbidden):
        tokens.list_tokens(sessions.get_session(), "sam",
                           by=accounts.Caller(token_row(app, bob.token).user_id, "bob",
                                              accounts.Role.INSTRUCTOR))


def test_an_admin_may_revoke_anyones_token(app, admin, student):
    assert admin.delete(f"{TOKENS}/{token_id(app, student.token)}").status_code == 204
    assert student.get(EXERCISES).status_code == 401


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "a\nb"},
                                  {"name": "x" * 101}, {"name": "ci", "expires_at": 1},
                                  {"name": "ci", "expires_at": "2099-01-01T00:00:00"},
                                  {"name": "ci", "token": "bpg_x"}])
def test_a_new_tokens_body_is_validated(student, body):
    response = student.post(TOKENS, json=body)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert response.json["errors"]


def test_tokens_need_a_token(client):
    for response in (client.get(TOKENS), client.post(TOKENS, json={"name": "x"}),
                     client.delete(f"{TOKENS}/1")):
        assert response.status_code == 401
        assert response.mimetype == PROBLEM


# ---------------------------------------------------------------- last use


def test_the_last_use_is_stamped_at_most_once_a_minute(make_app, users_of):
    app = make_app(token_cache_seconds=0)
    ann = users_of(app).add("ann")
    assert token_row(app, ann.token).last_used_at is None
    assert ann.get(EXERCISES).status_code == 200  # a read-only request: stamped all the same
    first = token_row(app, ann.token).last_used_at
    assert first is not None and utcnow() - first < timedelta(seconds=5)
    assert ann.get(EXERCISES).status_code == 200
    assert token_row(app, ann.token).last_used_at == first  # within the minute: no write
    stale = utcnow() - LAST_USE_GRANULARITY - timedelta(seconds=1)
    age_token(app, ann.token, last_used_at=stale)
    assert ann.get(EXERCISES).status_code == 200
    assert token_row(app, ann.token).last_used_at > stale


def test_the_submit_path_stamps_the_last_use(app, student, load_bundled, right_answers):
    load_bundled("sigmoid-neuron-random")
    variant = student.get("/api/v1/exercises/sigmoid-neuron-random").json
    age_token(app, student.token, last_used_at=None)
    app.extensions["grader.caller_cache"].clear()
    assert student.post(SUBMIT, json=right_answers(variant)).status_code == 201
    assert token_row(app, student.token).last_used_at is not None


def test_a_refused_request_does_not_stamp_the_token(app, student):
    wrong = student.token[:-1] + ("A" if student.token[-1] != "A" else "B")
    assert student.client.get(EXERCISES, headers=bearer(wrong)).status_code == 401
    assert token_row(app, student.token).last_used_at is None


def test_a_token_made_with_an_expiring_token_expires_no_later(app, client, student):
    # A leaked token that expires cannot mint one that lives on.
    soon = utcnow() + timedelta(hours=1)
    parent = add_token(app, student.username, expires_at=soon)
    for body in ({"name": "forever"}, {"name": "later",
                                      "expires_at": (soon + timedelta(days=9)).isoformat()}):
        made = client.post("/api/v1/tokens", json=body, headers=bearer(parent))
        assert made.status_code == 201, made.json
        assert made.json["expires_at"] is not None
        assert abs((token_row(app, made.json["token"]).expires_at - soon).total_seconds()) < 1
    earlier = (soon - timedelta(minutes=30)).replace(microsecond=0)
    made = client.post("/api/v1/tokens", json={"name": "short",
                                               "expires_at": earlier.isoformat()},
                       headers=bearer(parent))
    assert token_row(app, made.json["token"]).expires_at.replace(tzinfo=None) == (
        earlier.replace(tzinfo=None))
    # A token without an expiry may make one without.
    free = student.post("/api/v1/tokens", json={"name": "free"})
    assert free.status_code == 201 and free.json["expires_at"] is None
