"""Two `grader serve` replicas on one PostgreSQL database, behind nginx taking turns
between them, with the rate-limit counters in Redis: max attempts, idempotency keys and
rate limits hold exactly as with one.

PostgreSQL only (TEST_DATABASE_URL: CI's PostgreSQL pass); skipped with one line where
nginx is not installed. The rate-limit test also needs Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from local_servers import NGINX_INSTALL_HINT, add_user, grader_serve, nginx_binary, nginx_proxy

if not os.environ.get("TEST_DATABASE_URL"):
    pytest.skip("replicas share one PostgreSQL database: runs in the PostgreSQL pass "
                "(TEST_DATABASE_URL)", allow_module_level=True)
if nginx_binary() is None:
    pytest.skip(NGINX_INSTALL_HINT, allow_module_level=True)

REDIS_URL = "redis://127.0.0.1:6379/0"
SUBMITS_PER_MINUTE = 10
PRACTICE = "/api/v1/exercises/branching/attempts"
EMPTY_ANSWER = {"forward": {}}


def redis_reachable() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def call(port: int, method: str, path: str, token: str, body: Any = None,
         **headers: str) -> tuple[int, dict[str, str], Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        sent = {"Authorization": f"Bearer {token}", **headers}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        answer = {name.lower(): value for name, value in response.getheaders()}
        return response.status, answer, json.loads(raw) if raw else None
    finally:
        connection.close()


def at_once(requests: list[tuple[int, str, str, str, Any, dict[str, str]]]) -> list[Any]:
    """Every request sent at the same moment, each on its own connection."""
    start = threading.Barrier(len(requests))

    def send(request: tuple[int, str, str, str, Any, dict[str, str]]) -> Any:
        port, method, path, token, body, headers = request
        start.wait()
        return call(port, method, path, token, body, **headers)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """(nginx's port, the two replicas' ports, the database URL) on a schema of their
    own, migrated by the first replica."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    base = os.environ["TEST_DATABASE_URL"]
    schema = f"grader_replicas_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    from conftest import with_search_path

    url = with_search_path(base, schema)
    prefix = f"grader-replicas-{secrets.token_hex(6)}"
    settings = {"REDIS_URL": REDIS_URL, "GRADER_RATE_LIMIT_PREFIX": prefix,
                "GRADER_RATE_LIMIT_SUBMIT_USER": f"{SUBMITS_PER_MINUTE}/minute",
                "GRADER_TRUSTED_PROXIES": "1"}
    try:
        with grader_serve(url, workers=1, threads=4, **settings) as first, \
                grader_serve(url, workers=1, threads=4, **settings) as second, \
                nginx_proxy(first, 1_048_576, [second]) as proxy:
            yield proxy, (first, second), url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        if redis_reachable():
            import redis

            store = redis.Redis.from_url(REDIS_URL)
            for key in store.scan_iter(f"*{prefix}*"):
                store.delete(key)
            store.close()


def test_max_attempts_hold_across_replicas(replicas):
    proxy, (first, second), url = replicas
    teacher = add_user(url, "ines", "instructor")
    student = add_user(url, "max", "student")
    course = call(proxy, "POST", "/api/v1/courses", teacher, {"title": "Backprop"})[2]["id"]
    enrolled = call(proxy, "POST", f"/api/v1/courses/{course}/enrollments", teacher,
                    {"user": "max", "role": "student"})
    assert enrolled[0] == 201
    created = call(proxy, "POST", f"/api/v1/courses/{course}/assignments", teacher,
                   {"exercise": "branching", "max_attempts": 3})
    assert created[0] == 201, created
    path = f"/api/v1/assignments/{created[2]['id']}/attempts"
    answers = at_once([(port, "POST", path, student, EMPTY_ANSWER, {})
                       for port in (first, second) * 4])
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [201] * 3 + [409] * 5
    assert sorted(body["number"] for status, _, body in answers if status == 201) == [1, 2, 3]
    assert len(call(second, "GET", path, student)[2]) == 3


def test_an_idempotency_key_holds_across_replicas(replicas):
    proxy, (first, second), url = replicas
    student = add_user(url, "idem", "student")
    key = {"Idempotency-Key": secrets.token_hex(8)}
    answers = at_once([(port, "POST", PRACTICE, student, EMPTY_ANSWER, key)
                       for port in (first, second) * 3])
    assert [status for status, _, _ in answers] == [201] * 6
    assert len({body["id"] for _, _, body in answers}) == 1
    fresh = [headers for _, headers, _ in answers if "idempotent-replayed" not in headers]
    assert len(fresh) == 1
    assert len(call(proxy, "GET", PRACTICE, student)[2]) == 1


def test_rate_limits_are_counted_once_across_replicas(replicas):
    if not redis_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL} (apt-get install redis-server)")
    proxy, (first, second), url = replicas
    student = add_user(url, "rush", "student")
    # Through the proxy, which takes turns between the replicas: each alone would let
    # SUBMITS_PER_MINUTE through.
    statuses = [call(proxy, "POST", PRACTICE, student, EMPTY_ANSWER)[0]
                for _ in range(SUBMITS_PER_MINUTE + 4)]
    assert statuses == [201] * SUBMITS_PER_MINUTE + [429] * 4
    for port in (first, second):
        status, headers, problem = call(port, "POST", PRACTICE, student, EMPTY_ANSWER)
        assert status == 429 and int(headers["retry-after"]) >= 1
        assert problem["type"].endswith(":rate-limited")
    assert len(call(proxy, "GET", PRACTICE, student)[2]) == SUBMITS_PER_MINUTE
