"""Limits that must hold when requests arrive at once: real threads, real connections
(each request in its own session from the pool)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from grader import sessions
from grader.models import Attempt

THREADS = 50


def submit_all(caller, url, bodies, headers=None):
    """POST every body at once (a barrier releases all threads together)."""
    barrier = threading.Barrier(len(bodies))

    def submit(body):
        client = caller.client.application.test_client()
        barrier.wait()
        return client.post(url, json=body, headers={
            "Authorization": f"Bearer {caller.token}", **(headers or {})})

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(submit, bodies))


def stored_attempts(app) -> int:
    with app.app_context():
        return sessions.get_session().execute(select(func.count(Attempt.id))).scalar_one()


@pytest.fixture
def assignment(instructor, student, load_bundled):
    load_bundled("branching")
    course = instructor.post("/api/v1/courses", json={"title": "C"}).json["id"]
    instructor.post(f"/api/v1/courses/{course}/enrollments", json={"user": "sam"})
    return instructor.post(f"/api/v1/courses/{course}/assignments",
                           json={"exercise": "branching", "max_attempts": 5}).json["id"]


def test_max_attempts_hold_under_50_simultaneous_submissions(app, student, assignment):
    url = f"/api/v1/assignments/{assignment}/attempts"
    responses = submit_all(student, url, [{"forward": {"a": n}} for n in range(THREADS)])
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 5, 409: THREADS - 5}, statuses
    assert sorted(r.json["number"] for r in responses if r.status_code == 201) == [1, 2, 3, 4, 5]
    assert stored_attempts(app) == 5


def test_one_idempotency_key_stores_one_attempt(app, student, assignment):
    url = f"/api/v1/assignments/{assignment}/attempts"
    responses = submit_all(student, url, [{"forward": {"a": 1}}] * 20,
                           headers={"Idempotency-Key": "same-key"})
    assert {r.status_code for r in responses} == {201}
    assert len({r.json["id"] for r in responses}) == 1
    assert stored_attempts(app) == 1


def test_simultaneous_practice_attempts_get_distinct_numbers(app, student, load_bundled):
    load_bundled("branching")
    responses = submit_all(student, "/api/v1/exercises/branching/attempts",
                           [{"forward": {"a": n}} for n in range(20)])
    assert {r.status_code for r in responses} == {201}
    assert sorted(r.json["number"] for r in responses) == list(range(1, 21))
    assert stored_attempts(app) == 20
