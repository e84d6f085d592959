"""`grader migrate`, `grader user add`, `grader token create` (and `serve`'s checks)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from grader import service_cli
from grader.auth import TOKEN_PREFIX


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
    assert "0001" in result.output
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
    assert "readyz" in " ".join(grader_service["healthcheck"]["test"])
    assert "serve" in (ROOT / "Dockerfile").read_text()


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
    result = subprocess.run([*command, "config", "--quiet"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
