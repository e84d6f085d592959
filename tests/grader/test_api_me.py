"""/api/v1/me: the caller's account and the language they chose."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"
ME = "/api/v1/me"


def patch(caller, body, **kwargs):
    return caller.client.patch(ME, json=body, headers={"Authorization": f"Bearer {caller.token}"},
                               **kwargs)


def test_me_names_the_caller_and_no_language_at_first(student, instructor):
    assert student.get(ME).json == {"username": "sam", "role": "student", "language": None}
    assert instructor.get(ME).json["role"] == "instructor"


def test_me_needs_a_token(client):
    assert client.get(ME).status_code == 401
    assert client.patch(ME, json={"language": "en"}).status_code == 401


@pytest.mark.parametrize(("sent", "stored"), [("pt-BR", "pt_BR"), ("pt_BR", "pt_BR"),
                                              ("en", "en")])
def test_the_language_is_stored_as_its_code(student, sent, stored):
    response = patch(student, {"language": sent})
    assert response.status_code == 200, response.json
    assert response.json["language"] == stored
    assert student.get(ME).json["language"] == stored  # the cached caller was dropped


def test_null_clears_the_language_and_an_empty_body_changes_nothing(student):
    patch(student, {"language": "pt-BR"})
    assert patch(student, {}).json["language"] == "pt_BR"
    cleared = patch(student, {"language": None})
    assert cleared.status_code == 200
    assert cleared.json["language"] is None
    assert student.get(ME).json["language"] is None


@pytest.mark.parametrize("language", ["fr", "pt", "PT-BR", "pt-br", "en-US", "", " en", 1,
                                      True, ["en"]])
def test_any_other_language_is_422_naming_the_field(student, language):
    response = patch(student, {"language": language})
    assert response.status_code == 422, response.json
    assert response.mimetype == PROBLEM
    assert [e["pointer"] for e in response.json["errors"]] == ["/language"]
    assert student.get(ME).json["language"] is None


def test_unknown_fields_are_422(student):
    response = patch(student, {"language": "en", "role": "admin"})
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json["errors"]] == ["/role"]
    assert student.get(ME).json == {"username": "sam", "role": "student", "language": None}


def test_the_change_is_seen_at_once_although_callers_are_cached(make_app, users_of):
    app = make_app(token_cache_seconds=10)
    ana = users_of(app).add("ana")
    assert ana.get(ME).json["language"] is None  # now cached for 10 s
    assert patch(ana, {"language": "en"}).json["language"] == "en"
    assert ana.get(ME).json["language"] == "en"


def test_a_json_null_for_a_required_body_is_a_422_not_a_crash(student):
    response = student.client.patch("/api/v1/me", data=b"null", content_type="application/json",
                                     headers={"Authorization": f"Bearer {student.token}"})
    assert response.status_code == 422
