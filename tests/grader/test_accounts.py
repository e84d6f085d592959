"""Who the caller is: tokens, and the short-lived cache of their owners."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from grader import sessions
from grader.models import ApiToken, Role, User
from grader.services.accounts import Caller, CallerCache, caller_for_token


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def revoke_all_tokens(app) -> None:
    with app.app_context():
        session = sessions.get_session()
        session.execute(update(ApiToken).values(revoked_at=ApiToken.created_at))
        session.commit()


def test_an_entry_lives_for_its_stated_lifetime_only():
    clock = Clock()
    cache = CallerCache(5, clock=clock)
    ann = Caller(1, "ann", Role.STUDENT)
    cache.put("id1", "hash", ann, cache.generation())
    clock.now += 4.9
    assert cache.get("id1").caller == ann
    clock.now += 0.2
    assert cache.get("id1") is None


def test_a_cache_of_zero_seconds_keeps_nothing():
    cache = CallerCache(0)
    cache.put("id1", "hash", Caller(1, "ann", Role.STUDENT), cache.generation())
    assert cache.get("id1") is None


def test_the_least_recently_used_go_first_and_a_user_can_be_forgotten():
    cache = CallerCache(60, size=2)
    ann, bob = Caller(1, "ann", Role.STUDENT), Caller(2, "bob", Role.STUDENT)
    cache.put("a", "h", ann, cache.generation())
    cache.put("b", "h", bob, cache.generation())
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("c", "h", bob, cache.generation())
    assert cache.get("b") is None and cache.get("a") is not None
    cache.forget_user(ann.id)
    assert cache.get("a") is None and cache.get("c") is not None


def test_a_cached_token_with_a_wrong_secret_is_refused(app, student):
    cache = CallerCache(60)
    wrong = student.token[:-1] + ("A" if student.token[-1] != "A" else "B")
    with app.app_context():
        session = sessions.get_session()
        assert caller_for_token(session, student.token, cache).username == student.username
        assert caller_for_token(session, wrong, cache) is None


def test_a_revoked_token_stops_working_when_its_cache_entry_expires(make_app, users_of):
    clock = Clock()
    app = make_app(token_cache_seconds=5)
    app.extensions["grader.caller_cache"] = CallerCache(5, clock=clock)
    ann = users_of(app).add("ann")
    assert ann.get("/api/v1/exercises").status_code == 200
    revoke_all_tokens(app)
    assert ann.get("/api/v1/exercises").status_code == 200  # within the stated lifetime
    clock.now += 5
    assert ann.get("/api/v1/exercises").status_code == 401


def test_without_the_cache_a_revoked_token_stops_working_at_once(make_app, users_of):
    app = make_app(token_cache_seconds=0)
    ann = users_of(app).add("ann")
    assert ann.get("/api/v1/exercises").status_code == 200
    revoke_all_tokens(app)
    assert ann.get("/api/v1/exercises").status_code == 401


def test_a_role_change_is_seen_once_the_user_is_forgotten(make_app, users_of):
    app = make_app(token_cache_seconds=10)
    ivy = users_of(app).add("ivy", "student")
    assert ivy.put_yaml("x", "id: x\n").status_code == 403
    with app.app_context():
        session = sessions.get_session()
        user = session.execute(
            update(User).where(User.username == "ivy").values(role=Role.INSTRUCTOR)
            .returning(User.id)).scalar_one()
        session.commit()
    app.extensions["grader.caller_cache"].forget_user(user)
    assert ivy.put_yaml("x", "id: x\n").status_code == 422  # an instructor now


@pytest.mark.parametrize("seconds", [-1, 11])
def test_the_cache_lifetime_is_bounded(seconds):
    from grader.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="GRADER_TOKEN_CACHE_SECONDS"):
        load_settings(token_cache_seconds=seconds)


def test_the_owner_of_a_token_comes_with_the_language_chosen(app):
    from grader.services import accounts

    with app.app_context():
        session = sessions.get_session()
        ana = accounts.create_user(session, "ana", Role.STUDENT, "pt_BR")
        token = accounts.create_token(session, "ana")
        assert ana.language == "pt_BR"
        assert caller_for_token(session, token).language == "pt_BR"
        changed = accounts.set_language(session, ana, "en")
        assert changed == Caller(ana.id, "ana", Role.STUDENT, "en")
        assert caller_for_token(session, token).language == "en"
        assert accounts.set_language(session, ana, None).language is None
        assert caller_for_token(session, token).language is None


@pytest.mark.parametrize("language", ["pt-BR", "pt", "fr", ""])
def test_only_a_supported_languages_code_is_stored(app, language):
    from grader.services import accounts
    from grader.services.errors import ValidationFailed

    with app.app_context():
        session = sessions.get_session()
        with pytest.raises(ValidationFailed) as refused:
            accounts.create_user(session, "ana", Role.STUDENT, language)
        assert refused.value.errors[0]["pointer"] == "/language"
        ana = accounts.create_user(session, "ana", Role.STUDENT)
        with pytest.raises(ValidationFailed):
            accounts.set_language(session, ana, language)


def test_an_answer_read_before_a_user_was_forgotten_is_not_kept():
    cache = CallerCache(60)
    stale = Caller(1, "ann", Role.STUDENT)
    read_at = cache.generation()  # a lookup reads the database ...
    cache.forget_user(1)  # ... meanwhile ann becomes an instructor
    cache.put("a", "h", stale, read_at)  # ... and the lookup finishes
    assert cache.get("a") is None
    cache.put("a", "h", Caller(1, "ann", Role.INSTRUCTOR), cache.generation())
    assert cache.get("a").caller.role is Role.INSTRUCTOR
