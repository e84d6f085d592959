"""`grader serve` behind nginx with the project's configuration
(deploy/nginx/grader.conf.template), both on loopback ports of their own.

Slow clients hang on nginx, not on gunicorn's threads: while 200 connections stall
partway through their requests, a student's submissions are answered as fast as ever.
nginx's own refusals, and gunicorn's text/html ones, reach clients as problem+json;
the service's own problems pass through untouched.

Runs once per CI run, in the SQLite pass; skipped with one line where nginx is not
installed.
"""

from __future__ import annotations

import http.client
import json
import os
import socket

import pytest
from local_servers import (
    NGINX_INSTALL_HINT,
    add_student,
    free_port,
    grader_serve,
    nginx_binary,
    nginx_proxy,
)
from slow_clients import SUBMIT, slow_connections, timed_submissions

# Skipped as a whole, so that a run without nginx shows one line saying what to install.
if os.environ.get("TEST_DATABASE_URL"):
    pytest.skip("runs once per CI run, in the SQLite pass", allow_module_level=True)
if nginx_binary() is None:
    pytest.skip(NGINX_INSTALL_HINT, allow_module_level=True)

MAX_BODY_BYTES = 65_536
SLOW_CLIENTS = 200
P99_SECONDS = 0.2
PROBLEM = b"application/problem+json"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(nginx's port, gunicorn's port, a student's token)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('proxied') / 'grader.sqlite3'}"
    with grader_serve(url, workers=2, threads=4,
                      GRADER_MAX_BODY_BYTES=str(MAX_BODY_BYTES)) as port:
        token = add_student(url, "proxied")
        with nginx_proxy(port, MAX_BODY_BYTES) as proxy_port:
            yield proxy_port, port, token


def exchange(port: int, request: bytes, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    """One raw request (sent as written) and its answer: status, headers, body. The
    answer is read as far as its length says: a server that refused a body it did not
    read keeps the connection open a while for the rest."""
    with socket.create_connection(("127.0.0.1", port), timeout) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        response.close()
    return response.status, headers, body


def get(path: str, *extra: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: grader", "Connection: close", *extra, "", ""]
    return "\r\n".join(lines).encode()


def test_slow_clients_do_not_stop_a_students_submissions(served):
    proxy_port, _, token = served
    with slow_connections(proxy_port, SLOW_CLIENTS):
        timings = timed_submissions(proxy_port, token, count=300, seconds=5)
        health = exchange(proxy_port, get("/healthz"))
    assert timings.failures == []
    assert timings.statuses == {201: len(timings.seconds)}
    assert len(timings.seconds) >= 100
    assert timings.percentile(0.99) < P99_SECONDS, sorted(timings.seconds)[-5:]
    assert health[0] == 200


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"GARBAGE\r\n\r\n", 400),  # nginx's own
    (get("/" + "a" * 9000), 414),  # nginx's own
    (get("/healthz", "X-Long: " + "a" * 9000), 431),  # nginx's own (494)
    (get("/healthz", *(f"X-Field-{k}: a" for k in range(101))), 431),  # gunicorn's, intercepted
    (b"POST /api/v1/courses HTTP/1.1\r\nHost: grader\r\nConnection: close\r\n"
     b"Content-Type: application/json\r\nContent-Length: 70000\r\n\r\n{", 413),  # nginx's own
])
def test_http_level_refusals_are_problem_json(served, request_bytes, status):
    proxy_port, _, _ = served
    answered, headers, body = exchange(proxy_port, request_bytes)
    assert answered == status
    assert headers["content-type"].encode() == PROBLEM
    problem = json.loads(body)
    assert problem["status"] == status and problem["title"]


def test_the_proxys_problems_speak_the_readers_language(served):
    proxy_port, _, _ = served
    too_large = "Content-Type: application/json", "Content-Length: 70000"
    request = get("/api/v1/courses", *too_large, "Accept-Language: pt-BR,pt;q=0.9,en;q=0.5")
    status, headers, body = exchange(proxy_port, request.replace(b"GET", b"POST", 1))
    assert status == 413
    assert headers["content-language"] == "pt-BR"
    assert json.loads(body)["title"] == "Conteúdo grande demais"
    request = get("/api/v1/courses", *too_large)
    status, headers, body = exchange(proxy_port, request.replace(b"GET", b"POST", 1))
    assert headers["content-language"] == "en"
    assert json.loads(body)["title"] == "Content Too Large"


def test_the_services_own_problems_pass_through(served):
    proxy_port, _, token = served
    body = b'{"forward": '
    request = (f"POST {SUBMIT} HTTP/1.1\r\nHost: grader\r\nConnection: close\r\n"
               f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    status, headers, answer = exchange(proxy_port, request)
    assert status == 400
    assert headers["content-type"].encode() == PROBLEM
    assert json.loads(answer)["errors"][0]["offset"] == len(body)  # the service's, located
    status, headers, answer = exchange(proxy_port, get("/api/v1/me"))
    assert status == 401 and "www-authenticate" in headers


def test_a_service_that_does_not_answer_is_502_problem_json_with_retry_after():
    with nginx_proxy(free_port(), MAX_BODY_BYTES) as proxy_port:
        status, headers, body = exchange(proxy_port, get("/healthz"))
    assert status == 502
    assert headers["content-type"].encode() == PROBLEM
    assert int(headers["retry-after"]) > 0
    assert json.loads(body)["status"] == 502
