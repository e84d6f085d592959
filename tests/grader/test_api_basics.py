"""Health, authentication, problem responses and the OpenAPI document."""

from __future__ import annotations

import pytest

from grader.app import create_app
from grader.config import ConfigError

PROBLEM = "application/problem+json"


def test_healthz_is_public(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": None, "revision": None, "head": None}


def test_readyz_reports_database_and_head(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["database"] == "ok"
    assert response.json["revision"] == response.json["head"]


def test_readyz_is_503_before_migrations(tmp_path):
    app = create_app({"testing": True, "database_url": f"sqlite:///{tmp_path / 'empty.db'}"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.json["status"] == "unavailable"


def test_unknown_route_is_a_problem(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM
    assert response.json["status"] == 404
    assert response.json["title"] == "Not Found"


def test_wrong_method_keeps_allow_header(client):
    response = client.delete("/api/v1/exercises")
    assert response.status_code == 405
    assert response.mimetype == PROBLEM
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("header", [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer nope",
                                    "Bearer bpg_0011223344556677_wrong", "Bearer " + "x" * 5000])
def test_unauthenticated_calls_get_401(client, student, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/exercises", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == PROBLEM
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_with_a_wrong_secret_is_refused(client, student):
    prefix, public_id, _ = student.token.split("_", 2)
    response = client.get("/api/v1/exercises",
                          headers={"Authorization": f"Bearer {prefix}_{public_id}_guess"})
    assert response.status_code == 401


def test_valid_token_authenticates(student):
    assert student.get("/api/v1/exercises").status_code == 200


def test_openapi_document_is_public_and_3_1(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"] == "3.1.0"
    submit = document["paths"]["/api/v1/exercises/{exercise_id}/attempts"]["post"]
    assert {"201", "401", "422"} <= set(submit["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in submit["parameters"])
    assert "$ref" in submit["requestBody"]["content"]["application/json"]["schema"]
    course = document["paths"]["/api/v1/courses/{course_id}"]["get"]
    assert course["parameters"][0]["schema"]["type"] == "integer"
    assert document["paths"]["/healthz"]["get"]["security"] == []
    for path in document["paths"].values():
        for op in path.values():
            for response in op["responses"].values():
                for media in response.get("content", {}).values():
                    ref = media["schema"].get("$ref") or media["schema"].get("items", {}).get(
                        "$ref")
                    if ref:
                        assert ref.split("/")[-1] in document["components"]["schemas"]


def test_openapi_document_validates(client):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(client.get("/api/v1/openapi.json").json)


def test_secret_key_is_required_with_a_database_url(monkeypatch):
    with pytest.raises(ConfigError):
        create_app({"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"})


@pytest.mark.parametrize("key", ["dev", "short-key"])
def test_weak_secret_keys_are_refused(key):
    with pytest.raises(ValueError, match="SECRET_KEY"):
        create_app({"database_url": "sqlite://", "secret_key": key})


def test_local_sqlite_setup_keeps_a_generated_key(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    from grader.config import Settings

    settings = Settings()
    first = settings.secret_key_for(tmp_path)
    assert len(first) >= 32
    assert settings.secret_key_for(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    from grader.config import Settings

    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@db/grader")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("GRADER_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("GRADER_EXERCISES_DIR", str(tmp_path))
    monkeypatch.setenv("GRADER_WORKERS", "3")  # a gunicorn setting: ignored here
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://u@db/grader"
    assert settings.secret_key_for(tmp_path) == "s" * 40
    assert settings.max_body_bytes == 2048
    assert settings.exercises_path() == tmp_path


def test_invalid_settings_are_refused(monkeypatch):
    from grader.config import Settings

    monkeypatch.setenv("GRADER_MAX_BODY_BYTES", "tiny")
    with pytest.raises(ValueError, match="max_body_bytes"):
        Settings()


@pytest.mark.parametrize("token", [
    "bpg_00112233\x0044556677_" + "s" * 43,  # a NUL in the public id
    "bpg_0011223344556677\x00_" + "s" * 43,
    "bpg_001122334455667_" + "s" * 43,  # 15 hex digits
    "bpg_00112233445566778_" + "s" * 43,
    "bpg_001122334455667G_" + "s" * 43,
    "bpg_0011223344556677_" + "s" * 42 + "\x00",
    "bpg_0011223344556677_" + "s" * 42 + "é",
])
def test_malformed_tokens_are_401_without_a_query(app, client, student, token):
    from grader.services.accounts import caller_for_token

    class NoQueries:
        def execute(self, *args, **kwargs):
            raise AssertionError("a malformed token must not reach the database")

    assert caller_for_token(NoQueries(), token) is None  # type: ignore[arg-type]
    response = client.get("/api/v1/exercises", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.mimetype == PROBLEM


def test_a_problem_lists_at_most_100_field_errors():
    from grader.problems import problem_response

    errors = [{"pointer": f"/x/{n}", "detail": "wrong"} for n in range(250)]
    with create_app({"testing": True, "database_url": "sqlite://"}).app_context():
        body = problem_response(422, "bad", errors=errors).json
    assert body["errors"] == errors[:100]
    assert body["errors_omitted"] == 150


def test_settings_errors_name_the_variable_and_never_echo_the_key():
    from grader.config import ConfigError, load_settings

    with pytest.raises(ConfigError) as refused:
        load_settings(secret_key="not-long-enough", workers="many")
    message = str(refused.value)
    assert "SECRET_KEY" in message
    assert "not-long-enough" not in message
    assert "GRADER_WORKERS" in message and "'many'" in message
    assert "\n" not in message


def test_the_caller_is_a_plain_value_with_the_columns_read(app, instructor):
    import dataclasses

    from grader import sessions
    from grader.models import Role, User
    from grader.services.accounts import Caller, caller_for_token

    with app.app_context():
        session = sessions.get_session()
        caller = caller_for_token(session, instructor.token)
        assert isinstance(caller, Caller)
        assert (caller.username, caller.role) == (instructor.username, Role.INSTRUCTOR)
        assert session.get(User, caller.id).username == instructor.username
        with pytest.raises(dataclasses.FrozenInstanceError):
            caller.role = Role.ADMIN  # type: ignore[misc]


def test_no_cookie_session_is_opened(app, instructor):
    from flask import session
    from flask.sessions import NullSession

    with app.test_request_context("/api/v1/exercises"):
        app.preprocess_request()
        assert isinstance(session, NullSession)  # Flask's default is a signed cookie session
    response = instructor.get("/api/v1/exercises")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers


def test_problems_speak_the_readers_language(client):
    english = client.get("/api/v1/exercises")
    assert english.status_code == 401
    assert english.json["title"] == "Unauthorized"
    assert english.headers["Content-Language"] == "en"
    portuguese = client.get("/api/v1/exercises", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    assert portuguese.status_code == 401
    assert portuguese.json["title"] == "Não autenticado"
    assert "token da API" in portuguese.json["detail"]
    assert portuguese.headers["Content-Language"] == "pt-BR"
    assert "Accept-Language" in portuguese.headers["Vary"]
    assert portuguese.json["type"] == english.json["type"]  # the type never changes


@pytest.mark.parametrize("header", ["xx-YY", "*", "pt;q=abc,,", "ç" * 300, "en;q=0"])
def test_an_unknown_or_malformed_language_falls_back_to_english(client, header):
    response = client.get("/api/v1/exercises", headers={"Accept-Language": header})
    assert response.status_code == 401
    assert response.headers["Content-Language"] == "en"


def test_a_decimal_comma_in_the_json_body_is_named(student, load_bundled):
    load_bundled("branching")
    body = b'{"forward": {"a": 0,39}}'
    for language, words in (("en", "decimal comma"), ("pt-BR", "vírgula decimal")):
        response = student.post("/api/v1/exercises/branching/attempts", data=body,
                                content_type="application/json",
                                headers={"Accept-Language": language})
        assert response.status_code == 400
        assert words in response.json["detail"] and "0.39" in response.json["detail"]
        [error] = response.json["errors"]
        assert (error["line"], error["column"]) == (1, 21)  # where 0,39 stops being JSON


def test_a_body_that_is_not_json_is_located(student, load_bundled):
    load_bundled("branching")
    response = student.post("/api/v1/exercises/branching/attempts", data=b'{"forward":\n  [}',
                            content_type="application/json")
    assert response.status_code == 400
    [error] = response.json["errors"]
    assert error["line"] == 2 and error["column"] >= 3 and "offset" in error


def test_use_case_errors_speak_the_readers_language(student):
    english = student.get("/api/v1/exercises/no-such-exercise")
    portuguese = student.get("/api/v1/exercises/no-such-exercise",
                             headers={"Accept-Language": "pt-BR"})
    assert english.status_code == portuguese.status_code == 404
    assert english.json["detail"] == "no exercise 'no-such-exercise'"
    assert portuguese.json["detail"] == "não há exercício 'no-such-exercise'"
    assert portuguese.json["title"] == "Não encontrado"


def test_a_stored_language_wins_over_the_header(student):
    assert student.client.patch(
        "/api/v1/me", json={"language": "pt-BR"},
        headers={"Authorization": f"Bearer {student.token}"}).status_code == 200
    response = student.get("/api/v1/exercises/no-such-exercise",
                           headers={"Accept-Language": "en"})
    assert response.headers["Content-Language"] == "pt-BR"
    assert response.json["detail"].startswith("não há exercício")


def test_the_json_parsers_reason_is_in_the_readers_language(student, load_bundled):
    load_bundled("branching")
    response = student.post("/api/v1/exercises/branching/attempts", data=b'{"forward":',
                            content_type="application/json",
                            headers={"Accept-Language": "pt-BR"})
    assert response.status_code == 400
    assert "Expecting" not in response.json["detail"]
    assert "era esperado um valor" in response.json["detail"]
    assert response.json["errors"][0]["detail"] == "era esperado um valor"
