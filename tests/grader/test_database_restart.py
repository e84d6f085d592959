"""A real PostgreSQL restart under load: a server of the test's own (initdb, pg_ctl) is
stopped and started again while a few students submit with Idempotency-Keys.

While it is down every request gets 503 with Retry-After, never 500; the same app
recovers when it is back; every acknowledged attempt is stored exactly once, and a
retry with the same key is replayed, never stored twice.

It runs in the PostgreSQL pass of CI only (once per run), in a few seconds.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from local_servers import postgres_instance
from sqlalchemy import select

from grader import db, sessions
from grader.models import Attempt, User
from grader.services import exercises

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="runs once per CI run, in the PostgreSQL pass (set TEST_DATABASE_URL)")

SUBMIT = "/api/v1/exercises/branching/attempts"
THREADS = 4
UP_BEFORE_SECONDS = 0.8
DOWN_SECONDS = 1.0
UP_AFTER_SECONDS = 0.8
FINISH_SECONDS = 20  # a key still unacknowledged by then is a failure
RETRY_PAUSE_SECONDS = 0.05  # the test's clients retry sooner than Retry-After says


@dataclass
class Student:
    """One submitting thread's view: what it sent, what it was told."""

    name: str
    token: str
    acknowledged: dict[str, int] = field(default_factory=dict)  # key -> attempt id
    statuses: Counter[int] = field(default_factory=Counter)
    replays: int = 0  # answers with Idempotent-Replayed: true
    retries: int = 0  # acknowledged requests sent again on purpose
    problems: list[str] = field(default_factory=list)


def submit_until_acknowledged(client, student: Student, key: str, give_up_at: float) -> None:
    headers = {"Authorization": f"Bearer {student.token}", "Idempotency-Key": key}
    answers = {"forward": {"a": -6.0, "b": 1.0}}
    while time.monotonic() < give_up_at:
        response = client.post(SUBMIT, json=answers, headers=headers)
        student.statuses[response.status_code] += 1
        if response.status_code == 503:
            if not response.headers.get("Retry-After", "").isdigit():
                student.problems.append(f"{key}: 503 without Retry-After")
            time.sleep(RETRY_PAUSE_SECONDS)
            continue
        if response.status_code != 201:
            student.problems.append(f"{key}: {response.status_code} {response.text[:200]}")
            return
        attempt = response.json["id"]
        if response.headers.get("Idempotent-Replayed") == "true":
            student.replays += 1  # stored by a request whose answer was lost
        known = student.acknowledged.setdefault(key, attempt)
        if known != attempt:
            student.problems.append(f"{key}: acknowledged as {known}, then as {attempt}")
        return
    student.problems.append(f"{key}: never acknowledged")


def submit_while(app, student: Student, running: threading.Event, finish_by: float) -> None:
    client = app.test_client()
    number = 0
    while running.is_set() and time.monotonic() < finish_by:
        key = f"{student.name}-{number}"
        number += 1
        submit_until_acknowledged(client, student, key, finish_by)
        if number % 3 == 0 and key in student.acknowledged:
            # A client that never saw the answer sends the same request again.
            before = dict(student.acknowledged)
            student.retries += 1
            submit_until_acknowledged(client, student, key, finish_by)
            if student.acknowledged != before:
                student.problems.append(f"{key}: a retry changed what was acknowledged")


def test_a_database_restart_under_load_loses_and_doubles_nothing(make_app, users_of, bundled):
    with postgres_instance() as postgres:
        db.upgrade(postgres.url)
        app = make_app(postgres.url, retry_after_seconds=1, db_connect_timeout=2)
        with app.app_context():
            exercise = exercises.parse_exercise_text(bundled("branching"), max_bytes=None)
            exercises.store_exercise(sessions.get_session(), exercise, owner=None)
        students = [Student(f"s{k}", users_of(app).add(f"s{k}").token) for k in range(THREADS)]
        running = threading.Event()
        running.set()
        finish_by = time.monotonic() + FINISH_SECONDS
        threads = [threading.Thread(target=submit_while, args=(app, s, running, finish_by))
                   for s in students]
        for thread in threads:
            thread.start()
        client = app.test_client()
        try:
            time.sleep(UP_BEFORE_SECONDS)
            postgres.stop()
            down = client.post(SUBMIT, json={"forward": {}},
                               headers={"Authorization": f"Bearer {students[0].token}"})
            ready_while_down = client.get("/readyz").status_code
            time.sleep(DOWN_SECONDS)
            postgres.start()
            time.sleep(UP_AFTER_SECONDS)
        finally:
            running.clear()
            for thread in threads:
                thread.join(FINISH_SECONDS)
        assert not any(thread.is_alive() for thread in threads)

        assert down.status_code == 503 and down.headers["Retry-After"] == "1"
        assert ready_while_down == 503
        assert client.get("/readyz").status_code == 200  # the same app, recovered
        problems = [p for s in students for p in s.problems]
        assert problems == []
        statuses = sum((s.statuses for s in students), Counter())
        assert set(statuses) <= {201, 503}, statuses  # never a 500
        assert statuses[503] > 0, statuses  # the clients did meet the outage
        with app.app_context():
            stored = sessions.get_session().execute(
                select(User.username, Attempt.idempotency_key, Attempt.id)
                .join(User, User.id == Attempt.user_id)).all()
        acknowledged = {(s.name, key, attempt) for s in students
                        for key, attempt in s.acknowledged.items()}
        assert len(acknowledged) >= THREADS * 3
        assert set(stored) == acknowledged  # acknowledged == stored, each once
        assert len(stored) == len(acknowledged)
        # Every retry of an acknowledged request was replayed (and a request stored by
        # the database just before it went down, whose answer was lost, may add some).
        assert sum(s.replays for s in students) >= sum(s.retries for s in students) > 0
