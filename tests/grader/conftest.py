"""Fixtures for the service's tests: a migrated database, an app, a client, users.

SQLite by default; PostgreSQL when TEST_DATABASE_URL is set. On PostgreSQL each test
session works in a schema of its own (dropped at the end), so runs sharing the
database, in CI or side by side on one machine, never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from page_client import Browser
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from grader import db, sessions
from grader.app import create_app
from grader.models import Base, Role
from grader.services import accounts, exercises

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"
TEST_SECRET_KEY = "test-" + "k" * 40


def postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


def with_search_path(url: str, schema: str) -> str:
    """The URL with every connection's search_path set to one schema."""
    parsed = make_url(url)
    options = f"-csearch_path={schema}"
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head, for the whole session."""
    base = postgres_url()
    if base is None:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'grader.sqlite3'}"
        db.upgrade(url)
        yield url
        return
    schema = f"grader_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = with_search_path(base, schema)
    try:
        db.upgrade(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def empty_tables(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    # DELETE, not TRUNCATE: on tables this small it is many times faster on PostgreSQL.
    with engine.begin() as connection:
        for table in tables:
            connection.execute(text(f'DELETE FROM "{table}"'))
    engine.dispose()


# Tests submit and sign in far faster than people do: limits no test reaches unless it
# sets its own (tests/grader/test_rate_limits.py).
GENEROUS_RATE_LIMITS = {
    "rate_limit_submit_user": "100000/minute", "rate_limit_submit_ip": "100000/minute",
    "rate_limit_sign_in_user": "100000/minute", "rate_limit_sign_in_ip": "100000/minute",
}


def app_config(database_url: str, **overrides: Any) -> dict[str, Any]:
    return {"testing": True, "database_url": database_url, "secret_key": TEST_SECRET_KEY,
            **GENEROUS_RATE_LIMITS, **overrides}


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(app_config(database_url))
    yield app
    sessions.dispose(app)
    empty_tables(database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@dataclass
class Caller:
    """A test client acting as one user, with that user's bearer token."""

    client: FlaskClient
    username: str
    token: str

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self._headers(kwargs.pop("headers", None)),
                               **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.client.post(path, headers=self._headers(kwargs.pop("headers", None)),
                                **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.client.put(path, headers=self._headers(kwargs.pop("headers", None)),
                               **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.client.delete(path, headers=self._headers(kwargs.pop("headers", None)),
                                  **kwargs)

    def put_yaml(self, exercise_id: str, text: str) -> Any:
        return self.put(f"/api/v1/exercises/{exercise_id}", data=text.encode(),
                        content_type="application/yaml")


class Users:
    """Creates users with tokens: `users.add("ann", "student")` -> Caller."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client

    def add(self, username: str, role: str = "student") -> Caller:
        with self.app.app_context():
            session = sessions.get_session()
            accounts.create_user(session, username, Role(role))
            token = accounts.create_token(session, username)
        return Caller(self.client, username, token)


@pytest.fixture
def users(app: Flask, client: FlaskClient) -> Users:
    return Users(app, client)


@pytest.fixture
def admin(users: Users) -> Caller:
    return users.add("root", "admin")


@pytest.fixture
def instructor(users: Users) -> Caller:
    return users.add("ines", "instructor")


@pytest.fixture
def student(users: Users) -> Caller:
    return users.add("sam", "student")


def bundled_text(name: str) -> str:
    return (EXERCISES / f"{name}.yaml").read_text()


@pytest.fixture
def load_bundled(app: Flask) -> Any:
    """Store bundled exercises by name (owned by nobody, like `grader serve` does)."""

    def load(*names: str) -> None:
        with app.app_context():
            session = sessions.get_session()
            for name in names:
                exercise = exercises.parse_exercise_text(bundled_text(name), max_bytes=None)
                exercises.store_exercise(session, exercise, owner=None)

    return load


def _right_answers(variant: dict[str, Any], *, kinds: tuple[str, ...] | None = None) -> dict:
    """Every blank of a variant (as served by the API) answered right, computed with
    the engine from the served inputs."""
    from engine import Variant, load_exercise, solve

    exercise_text = bundled_text(variant["exercise"])
    exercise = load_exercise(exercise_text)
    solution = solve(Variant(exercise, variant["seed"], dict(variant["inputs"])))
    asked = kinds or tuple(variant["ask"])
    gates = [n["id"] for n in variant["nodes"]]
    answers: dict[str, Any] = {}
    if "forward" in asked:
        answers["forward"] = {g: solution.values[g] for g in gates}
    if "backward" in asked:
        answers["backward"] = {n: solution.grads[n] for n in [*variant["inputs"], *gates]}
    if "local" in asked:
        answers["local"] = {g: solution.local_gradients(g) for g in gates}
    return answers


@pytest.fixture
def right_answers() -> Any:
    """Every blank of a served variant answered right (computed with the engine)."""
    return _right_answers


@pytest.fixture
def bundled() -> Any:
    """The YAML text of a bundled exercise, by name."""
    return bundled_text


@pytest.fixture
def make_app(database_url: str) -> Iterator[Any]:
    """Apps on other URLs or settings (`make_app(url, retry_after_seconds=3)`); the
    session database is emptied afterwards."""
    apps: list[Flask] = []

    def make(url: str | None = None, **overrides: Any) -> Flask:
        app = create_app(app_config(url or database_url, **overrides))
        apps.append(app)
        return app

    yield make
    for app in apps:
        sessions.dispose(app)
    empty_tables(database_url)


@pytest.fixture
def users_of() -> Any:
    """`users_of(app).add(name, role)`: users with tokens for another app."""
    return lambda app: Users(app, app.test_client())


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (a new schema on PostgreSQL), not migrated."""
    base = postgres_url()
    if base is None:
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    schema = f"grader_fresh_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield with_search_path(base, schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# ---------------------------------------------------------------- pages


@pytest.fixture
def browser(app: Flask) -> Browser:
    return Browser(app)


@pytest.fixture
def student_browser(app: Flask, student: Caller) -> Browser:
    """A browser signed in as the student sam."""
    found = Browser(app)
    found.sign_in(student.username)
    return found


@pytest.fixture
def lms(app: Flask) -> Iterator[Any]:
    """A fake LMS on loopback, registered with the app as a platform (the LTI tests)."""
    from fake_lms import FakeLms
    from lti_helpers import register

    found = FakeLms()
    found.tool_key_set = lambda: app.test_client().get("/lti/jwks").json
    register(app, found)
    yield found
    found.close()
