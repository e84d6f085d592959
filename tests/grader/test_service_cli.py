"""`grader migrate`, `grader user add`, `grader token create` (and `serve`'s checks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader import db, service_cli
from grader.services.accounts import TOKEN_PREFIX


@pytest.fixture
def env(app, database_url, monkeypatch):
    # `app` empties the tables after the test; the commands share its database.
    monkeypatch.delenv("SECRET_KEY", raising=False)
    return {"DATABASE_URL": database_url}


def test_user_add_and_token_create(runner, env, client):
    added = runner.invoke(service_cli.user, ["add", "ada", "--role", "instructor"], env=env)
    assert added.exit_code == 0, added.output
    created = runner.invoke(service_cli.token, ["create", "ada"], env=env)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith(TOKEN_PREFIX + "_")
    assert created.stdout == token + "\n"  # the token alone on stdout
    response = client.get("/api/v1/courses", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_user_add_refuses_duplicates_and_bad_names(runner, env):
    assert runner.invoke(service_cli.user, ["add", "ada"], env=env).exit_code == 0
    again = runner.invoke(service_cli.user, ["add", "ada"], env=env)
    assert again.exit_code == 1
    assert "already exists" in again.output
    bad = runner.invoke(service_cli.user, ["add", "no spaces please"], env=env)
    assert bad.exit_code == 2
    role = runner.invoke(service_cli.user, ["add", "bob", "--role", "dean"], env=env)
    assert role.exit_code == 2


@pytest.mark.parametrize("label", ["two\nlines", "nul\x00", "x" * 101])
def test_token_names_are_one_short_line(runner, env, label):
    assert runner.invoke(service_cli.user, ["add", "ada"], env=env).exit_code == 0
    result = runner.invoke(service_cli.token, ["create", "ada", "--name", label], env=env)
    assert result.exit_code == 2
    assert "--name" in result.output
    assert result.stdout == ""


def test_token_for_unknown_user_fails(runner, env):
    result = runner.invoke(service_cli.token, ["create", "ghost"], env=env)
    assert result.exit_code == 1
    assert "no user" in result.output
    assert result.stdout == ""


def test_migrate_from_any_directory(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    result = runner.invoke(service_cli.migrate, [], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert f"revision {db.head_revision()}" in result.output
    assert runner.invoke(service_cli.migrate, [], env={"DATABASE_URL": url}).exit_code == 0


def test_commands_refuse_an_unmigrated_database(runner, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    result = runner.invoke(service_cli.user, ["add", "ada"], env={"DATABASE_URL": url})
    assert result.exit_code == 1
    assert "grader migrate" in result.output


def test_commands_report_an_unreachable_database(runner):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    result = runner.invoke(service_cli.user, ["add", "ada"], env={"DATABASE_URL": url})
    assert result.exit_code == 1
    assert "unreachable" in result.output
    migrated = runner.invoke(service_cli.migrate, [], env={"DATABASE_URL": url})
    assert migrated.exit_code == 1
    assert "Traceback" not in migrated.output


def test_serve_refuses_to_start_without_a_secret_key(runner, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    result = runner.invoke(service_cli.serve, [], env={
        "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    assert result.exit_code == 1
    assert "SECRET_KEY" in result.output


ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_runs_the_service_with_postgres():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    db_service, grader_service = compose["services"]["db"], compose["services"]["grader"]
    assert db_service["healthcheck"]["test"]
    assert any(v.startswith("pgdata:") for v in db_service["volumes"])
    assert "pgdata" in compose["volumes"]
    assert grader_service["depends_on"]["db"]["condition"] == "service_healthy"
    assert grader_service["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    # No default: compose refuses to start the service without a key.
    assert grader_service["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert "readyz" in " ".join(grader_service["healthcheck"]["test"])
    assert "serve" in (ROOT / "Dockerfile").read_text()


def test_compose_file_puts_nginx_in_front_of_the_service():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    grader_service, proxy = compose["services"]["grader"], compose["services"]["proxy"]
    assert proxy["image"].startswith("nginx:")
    # Only the proxy is published; gunicorn is reached through it alone.
    assert "ports" not in grader_service
    assert [p.split(":")[-1] for p in proxy["ports"]] == [proxy["environment"]["GRADER_LISTEN"]]
    assert proxy["environment"]["GRADER_UPSTREAM"] == "grader:8000"
    assert proxy["depends_on"]["grader"]["condition"] == "service_healthy"
    # nginx refuses bodies at the very limit the service has.
    assert (proxy["environment"]["GRADER_MAX_BODY_BYTES"]
            == grader_service["environment"]["GRADER_MAX_BODY_BYTES"])
    mounts = {v.split(":")[0]: v.split(":")[1] for v in proxy["volumes"]}
    assert mounts["./deploy/nginx/grader.conf.template"].startswith("/etc/nginx/templates/")
    assert mounts["./deploy/nginx/problems"] == proxy["environment"]["GRADER_PROBLEMS_DIR"]
    template = (ROOT / "deploy" / "nginx" / "grader.conf.template").read_text()
    for name in proxy["environment"]:
        assert "${" + name + "}" in template, name
    for path in (ROOT / "deploy" / "nginx" / "problems" / "en").glob("*.json"):
        assert f"/_problems/{path.name}" in template, path.name


def test_compose_file_scales_the_service_behind_the_proxy_with_shared_limits():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    grader_service, redis_service = services["grader"], services["redis"]
    # Replicas: no fixed name or host port that a second container would clash on.
    assert "container_name" not in grader_service and "ports" not in grader_service
    assert services["proxy"]["environment"]["GRADER_UPSTREAM"] == "grader:8000"
    # One Redis counts the rate limits of every replica; each sees clients, not nginx.
    assert grader_service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert grader_service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert redis_service["healthcheck"]["test"]
    # 1 (nginx) unless set: 2 with a TLS-terminating proxy in front of nginx.
    assert grader_service["environment"]["GRADER_TRUSTED_PROXIES"] == (
        "${GRADER_TRUSTED_PROXIES:-1}")
    assert "--scale grader=2" in (ROOT / "docker-compose.yml").read_text()


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 check=False).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_config_accepts_the_file():
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    env = {**os.environ, "SECRET_KEY": "k" * 40}
    result = subprocess.run([*command, "config", "--quiet"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False, env=env)
    assert result.returncode == 0, result.stderr
    del env["SECRET_KEY"]
    refused = subprocess.run([*command, "config", "--quiet"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60, check=False, env=env)
    assert refused.returncode != 0
    assert "SECRET_KEY" in refused.stderr


# ---------------------------------------------------------------- worker settings


def run_module(module: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                          env={**clean, **env}, capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.mark.parametrize(("name", "value"), [
    ("GRADER_WORKERS", "abc"), ("GRADER_WORKERS", "0"), ("GRADER_THREADS", "-2"),
    ("GRADER_THREADS", "1.5"), ("GRADER_LOG_LEVEL", "chatty"),
])
def test_a_bad_worker_setting_is_a_one_line_error(tmp_path, name, value):
    result = run_module("grader.service_cli", "migrate",
                        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **{name: value})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]


def test_threads_must_fit_the_connection_pool(tmp_path):
    result = run_module("grader.service_cli", "migrate",
                        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                        GRADER_THREADS="11", GRADER_DB_POOL_SIZE="5")
    assert result.returncode == 1
    assert "GRADER_THREADS" in result.stderr
    assert "Traceback" not in result.stderr
    fits = run_module("grader.service_cli", "migrate",
                      DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                      GRADER_THREADS="10", GRADER_DB_POOL_SIZE="5")
    assert fits.returncode == 0, fits.stderr


def test_serve_threads_must_fit_the_connection_pool(runner, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    result = runner.invoke(service_cli.serve, ["--threads", "11"], env={
        "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "GRADER_DB_POOL_SIZE": "5"})
    assert result.exit_code != 0
    assert "--threads" in result.output or "GRADER_THREADS" in result.output


def test_gunicorn_settings_come_from_the_settings_object():
    from grader import gunicorn_conf
    from grader.config import Settings

    options = gunicorn_conf.options(Settings(workers=3, threads=2, bind="127.0.0.1:9",
                                             access_log="", log_level="warning"))
    assert options["workers"] == 3
    assert options["threads"] == 2
    assert options["bind"] == "127.0.0.1:9"
    assert options["accesslog"] is None
    assert options["loglevel"] == "warning"
    assert options["worker_class"] == "gthread"  # gunicorn's own


def test_gunicorn_config_file_reports_a_bad_setting_in_one_line():
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "-c", "python:grader.gunicorn_conf",
         "grader.app:create_app()"], cwd=ROOT, env={**clean, "GRADER_WORKERS": "many"},
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert "GRADER_WORKERS" in result.stderr + result.stdout


def test_user_add_may_choose_the_users_language(runner, env, app):
    from grader import sessions
    from grader.services.accounts import Caller, user_named

    added = runner.invoke(service_cli.user, ["add", "ana", "--language", "pt-BR"], env=env)
    assert added.exit_code == 0, added.output
    assert runner.invoke(service_cli.user, ["add", "ed"], env=env).exit_code == 0
    with app.app_context():
        session = sessions.get_session()
        assert Caller.of(user_named(session, "ana")).language == "pt_BR"
        assert Caller.of(user_named(session, "ed")).language is None
    unknown = runner.invoke(service_cli.user, ["add", "fr", "--language", "fr"], env=env)
    assert unknown.exit_code == 2
    assert "'fr' is not one of 'en', 'pt-BR'" in unknown.output


def test_the_proxys_problems_say_what_the_service_would():
    import json

    from grader import i18n
    from grader.api.schemas import ProblemOut
    from grader.problems import STATUS_TITLES

    folder = ROOT / "deploy" / "nginx" / "problems"
    english = sorted(p.name for p in (folder / "en").glob("*.json"))
    assert english == sorted(p.name for p in (folder / "pt_BR").glob("*.json"))
    assert {"400.json", "413.json", "431.json", "502.json", "504.json"} <= set(english)
    for language in i18n.LANGUAGES:
        with i18n.use_language(language):
            for name in english:
                problem = ProblemOut.model_validate(
                    json.loads((folder / language / name).read_text()))
                assert f"{problem.status}.json" == name
                assert problem.title == i18n.gettext(STATUS_TITLES[problem.status])
                assert problem.detail


def test_token_create_with_a_name_and_an_expiry_then_list_and_revoke(runner, env, client):
    assert runner.invoke(service_cli.user, ["add", "ada"], env=env).exit_code == 0
    created = runner.invoke(service_cli.token, ["create", "ada", "--name", "ci runner",
                                                "--expires-in", "30"], env=env)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert created.stdout == token + "\n"
    assert "until 20" in created.stderr  # the expiry, on stderr
    forever = runner.invoke(service_cli.token, ["create", "ada", "--expires-at",
                                                "2099-01-31T23:59:00Z"], env=env)
    assert forever.exit_code == 0, forever.output
    assert "2099-01-31 23:59" in forever.stderr
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/courses", headers=headers).status_code == 200

    listed = runner.invoke(service_cli.token, ["list", "ada"], env=env)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "prefix", "created", "expires", "last", "used",
                                "status"]
    assert len(lines) == 3
    assert "ci runner" in lines[1] and "active" in lines[1]
    assert "2099-01-31 23:59" in lines[2]
    for text in (created.stdout, forever.stdout):
        assert text.strip().split("_", 2)[2] not in listed.output  # never a secret
    token_id = lines[1].split()[0]

    revoked = runner.invoke(service_cli.token, ["revoke", token_id], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked token {token_id} of ada" in revoked.output
    assert "revoked" in runner.invoke(service_cli.token, ["list", "ada"], env=env).stdout
    # The app's cache of token owners lives at most GRADER_TOKEN_CACHE_SECONDS; clear it
    # to see the database's answer now.
    client.application.extensions["grader.caller_cache"].clear()
    assert client.get("/api/v1/courses", headers=headers).status_code == 401


def test_token_revoke_of_an_unknown_id_fails(runner, env):
    result = runner.invoke(service_cli.token, ["revoke", "12345"], env=env)
    assert result.exit_code == 1
    assert "no token 12345" in result.output
    assert runner.invoke(service_cli.token, ["revoke", "abc"], env=env).exit_code == 2


def test_token_list_of_an_unknown_user_or_one_without_tokens(runner, env):
    unknown = runner.invoke(service_cli.token, ["list", "ghost"], env=env)
    assert unknown.exit_code == 1
    assert "no user" in unknown.output
    assert runner.invoke(service_cli.user, ["add", "ada"], env=env).exit_code == 0
    empty = runner.invoke(service_cli.token, ["list", "ada"], env=env)
    assert empty.exit_code == 0
    assert empty.stdout == "" and "ada has no tokens" in empty.stderr


@pytest.mark.parametrize("options, hint", [
    (["--expires-in", "3", "--expires-at", "2099-01-01T00:00:00Z"], "not both"),
    (["--expires-in", "0"], "--expires-in"),
    (["--expires-at", "tomorrow"], "--expires-at"),
    (["--expires-at", "2099-01-01T00:00:00"], "--expires-at"),  # no zone
])
def test_token_create_refuses_a_bad_expiry(runner, env, options, hint):
    assert runner.invoke(service_cli.user, ["add", "ada"], env=env).exit_code == 0
    result = runner.invoke(service_cli.token, ["create", "ada", *options], env=env)
    assert result.exit_code == 2
    assert hint in result.output
    assert result.stdout == ""


def test_token_create_refuses_an_expiry_in_the_past(runner, env):
    assert runner.invoke(service_cli.user, ["add", "ada"], env=env).exit_code == 0
    result = runner.invoke(service_cli.token, ["create", "ada", "--expires-at",
                                               "2020-01-01T00:00:00Z"], env=env)
    assert result.exit_code == 1
    assert "already passed" in result.output
    assert result.stdout == ""
