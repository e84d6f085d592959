"""Registering LMSs (the command line and the admin API), the tool's keys and their
rotation, the published key set and the tool configuration."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from grader import service_cli, sessions
from grader.lti import keys
from grader.models import LtiToolKey, utcnow

REGISTRATION = {
    "issuer": "https://moodle.example.edu", "client_id": "abc123",
    "deployment_ids": ["1", "2"], "auth_url": "https://moodle.example.edu/mod/lti/auth.php",
    "token_url": "https://moodle.example.edu/mod/lti/token.php",
    "jwks_url": "https://moodle.example.edu/mod/lti/certs.php",
}


@pytest.fixture
def env(app, database_url, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    return {"DATABASE_URL": database_url}


def cli_arguments(**changes):
    fields = {**REGISTRATION, **changes}
    arguments = ["platform", "add", "--issuer", fields["issuer"], "--client-id",
                 fields["client_id"], "--auth-url", fields["auth_url"], "--token-url",
                 fields["token_url"], "--jwks-url", fields["jwks_url"]]
    for deployment in fields["deployment_ids"]:
        arguments += ["--deployment-id", deployment]
    return arguments


def test_platform_add_list_remove_on_the_command_line(runner, env):
    added = runner.invoke(service_cli.lti, cli_arguments(), env=env)
    assert added.exit_code == 0, added.output
    platform_id = added.stdout.strip()
    listed = runner.invoke(service_cli.lti, ["platform", "list"], env=env)
    assert listed.stdout == (f"{platform_id}\thttps://moodle.example.edu\tabc123\t1,2\n")
    again = runner.invoke(service_cli.lti, cli_arguments(), env=env)
    assert again.exit_code == 1 and "registered already" in again.output
    removed = runner.invoke(service_cli.lti, ["platform", "remove", platform_id], env=env)
    assert removed.exit_code == 0
    assert runner.invoke(service_cli.lti, ["platform", "list"], env=env).stdout == ""
    missing = runner.invoke(service_cli.lti, ["platform", "remove", platform_id], env=env)
    assert missing.exit_code == 1 and "no LTI platform" in missing.output


def test_platform_add_refuses_an_address_that_is_not_one(runner, env):
    bad = runner.invoke(service_cli.lti, cli_arguments(jwks_url="ftp://x"), env=env)
    assert bad.exit_code == 2 and "--jwks-url" in bad.output


def test_key_rotate_prints_the_new_kid_and_keeps_the_old_key_published(runner, env, client):
    before = client.get("/lti/jwks").json["keys"]
    assert len(before) == 1
    rotated = runner.invoke(service_cli.lti, ["key", "rotate"], env=env)
    assert rotated.exit_code == 0, rotated.output
    after = client.get("/lti/jwks").json["keys"]
    assert [k["kid"] for k in after] == [rotated.stdout.strip(), before[0]["kid"]]


def test_the_newest_key_signs_and_a_key_past_its_grace_is_no_longer_published(app, client):
    with app.app_context():
        session = sessions.get_session()
        old = keys.signing_key(session)
        new_kid = keys.rotate(session)
        signer = keys.signing_key(session)
        assert signer.kid == new_kid != old.kid
        published = keys.public_key_set(session, timedelta(hours=72))
        token = signer.sign({"hello": "world"})
        jwk = next(k for k in published["keys"] if k["kid"] == new_kid)
        key = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
        assert jwt.decode(token, key, algorithms=["RS256"]) == {"hello": "world"}
        assert jwt.get_unverified_header(token)["kid"] == new_kid
        stored = session.query(LtiToolKey).filter_by(kid=old.kid).one()
        stored.retired_at = utcnow() - timedelta(hours=73)
        session.commit()
        assert [k["kid"] for k in keys.public_key_set(session, timedelta(hours=72))["keys"]] \
            == [new_kid]


def test_the_key_set_holds_public_keys_only_and_may_be_cached(client):
    response = client.get("/lti/jwks")
    assert response.status_code == 200
    assert "max-age" in response.headers["Cache-Control"]
    (key,) = response.json["keys"]
    assert {"kty", "n", "e", "kid"} <= set(key) and key["alg"] == "RS256"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_the_tool_configuration_names_the_tools_urls(make_app):
    client = make_app(base_url="https://grader.example.edu").test_client()
    config = client.get("/lti/config.json").json
    assert config["oidc_initiation_url"] == "https://grader.example.edu/lti/login"
    assert config["target_link_uri"] == "https://grader.example.edu/lti/launch"
    assert config["public_jwk_url"] == "https://grader.example.edu/lti/jwks"
    assert config["redirect_uris"] == ["https://grader.example.edu/lti/launch"]
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in config["scopes"]


# ---------------------------------------------------------------- the admin API


def test_admins_register_list_and_remove_platforms(admin):
    created = admin.post("/api/v1/lti/platforms", json=REGISTRATION)
    assert created.status_code == 201, created.json
    platform = created.json
    assert platform["deployment_ids"] == ["1", "2"] and platform["assistants_teach"] is False
    assert created.headers["Location"] == f"/api/v1/lti/platforms/{platform['id']}"
    assert admin.get("/api/v1/lti/platforms").json == [platform]
    again = admin.post("/api/v1/lti/platforms", json=REGISTRATION)
    assert again.status_code == 409
    assert admin.delete(f"/api/v1/lti/platforms/{platform['id']}").status_code == 204
    assert admin.get("/api/v1/lti/platforms").json == []
    assert admin.delete(f"/api/v1/lti/platforms/{platform['id']}").status_code == 404


def test_only_admins_manage_platforms(instructor):
    assert instructor.get("/api/v1/lti/platforms").status_code == 403
    assert instructor.post("/api/v1/lti/platforms", json=REGISTRATION).status_code == 403


def test_a_bad_registration_is_located(admin):
    response = admin.post("/api/v1/lti/platforms",
                          json={**REGISTRATION, "jwks_url": "not a url", "deployment_ids": []})
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json["errors"]}
    assert {"/jwks_url", "/deployment_ids"} <= pointers


def test_the_platforms_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert set(paths["/api/v1/lti/platforms"]) == {"get", "post"}
    assert "delete" in paths["/api/v1/lti/platforms/{platform_id}"]


def test_the_worker_runs_once_and_says_how_many_jobs_it_tried(runner, env):
    done = runner.invoke(service_cli.worker, ["--once"], env=env)
    assert done.exit_code == 0, done.output
    assert "0 score job(s) tried" in done.output


def test_the_grader_command_lists_the_lti_and_worker_commands(runner):
    from grader.cli import cli

    listed = runner.invoke(cli, ["--help"])
    assert "lti" in listed.output and "worker" in listed.output


def test_compose_runs_a_score_worker_on_the_services_database():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    services = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]
    worker, grader = services["worker"], services["grader"]
    assert worker["command"] == ["grader", "worker"]
    assert worker["environment"]["DATABASE_URL"] == grader["environment"]["DATABASE_URL"]
    assert worker["depends_on"]["grader"]["condition"] == "service_healthy"


def test_control_characters_in_a_registration_are_refused(admin):
    response = admin.post("/api/v1/lti/platforms",
                          json={**REGISTRATION, "client_id": "a\x00b",
                                "issuer": "https://x\x00.example"})
    assert response.status_code == 422
    assert {e["pointer"] for e in response.json["errors"]} >= {"/client_id", "/issuer"}


def test_fields_longer_than_their_columns_are_located(admin):
    response = admin.post("/api/v1/lti/platforms", json={
        **REGISTRATION, "issuer": "https://moodle.example.edu/" + "x" * 300,
        "client_id": "c" * 256, "token_url": "https://x.example/" + "t" * 1000,
        "deployment_ids": ["d" * 256]})
    assert response.status_code == 422, response.json
    assert {e["pointer"] for e in response.json["errors"]} == {
        "/issuer", "/client_id", "/token_url", "/deployment_ids/0"}


def test_a_long_issuer_on_the_command_line_is_one_line_of_error(runner, env):
    bad = runner.invoke(service_cli.lti, cli_arguments(
        issuer="https://moodle.example.edu/" + "x" * 300), env=env)
    assert bad.exit_code == 1, bad.output
    assert "issuer" in bad.output and "Traceback" not in bad.output
    assert bad.exception is None or isinstance(bad.exception, SystemExit)
