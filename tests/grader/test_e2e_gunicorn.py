"""End to end: the README's run command (`grader serve`) under a real gunicorn on a
free loopback port, driven over HTTP like a student's browser or script would."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def grader_command() -> list[str]:
    """`grader` once grader.cli registers the service commands; until then the same
    commands through their module."""
    from grader.cli import cli

    executable = shutil.which("grader", path=str(Path(sys.executable).parent))
    if executable and "serve" in cli.commands:
        return [executable]
    return [sys.executable, "-m", "grader.service_cli"]


class Http:
    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token

    def request(self, method: str, path: str, body: object = None,
                raw: bytes | None = None, content_type: str = "application/json",
                headers: dict[str, str] | None = None,
                chunks: list[bytes] | None = None) -> tuple[int, dict, object]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        all_headers = dict(headers or {})
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        data: object = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        if chunks is not None:  # Transfer-Encoding: chunked
            data = iter(chunks)
        if data is not None:
            all_headers["Content-Type"] = content_type
        try:
            connection.request(method, path, body=data, headers=all_headers,
                               encode_chunked=chunks is not None)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        parsed = json.loads(payload) if payload and "json" in (
            response.getheader("Content-Type") or "") else payload
        return response.status, dict(response.getheaders()), parsed


def wait_until_ready(server: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"server exited: {server.stdout.read()}")  # type: ignore[union-attr]
        try:
            if Http(port).request("GET", "/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("server not ready in time")


def test_serve_migrates_loads_exercises_and_grades(fresh_database, tmp_path, right_answers):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": fresh_database,
           "SECRET_KEY": secrets.token_urlsafe(48), "GRADER_ACCESS_LOG": "",
           # Small enough that an oversized body fits in the socket buffers: the client
           # then reads the 413 instead of a reset connection.
           "GRADER_MAX_BODY_BYTES": "4096"}
    command = grader_command()
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--workers", "2", "--threads", "2"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_until_ready(server, port)

        def run(*args: str) -> str:
            done = subprocess.run([*command, *args], env=env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=60, check=True)
            return done.stdout

        run("user", "add", "ada", "--role", "student")
        student = Http(port, run("token", "create", "ada").strip())

        status, _, exercises = student.request("GET", "/api/v1/exercises")
        assert status == 200
        assert "sigmoid-neuron-random" in {e["id"] for e in exercises}  # loaded on start

        status, _, variant = student.request("GET", "/api/v1/exercises/sigmoid-neuron-random")
        assert status == 200
        url = "/api/v1/exercises/sigmoid-neuron-random/attempts"
        status, _, result = student.request("POST", url, right_answers(variant),
                                            headers={"Idempotency-Key": "e2e-1"})
        assert status == 201, result
        assert result["score"] == 1.0
        status, _, replay = student.request("POST", url, right_answers(variant),
                                            headers={"Idempotency-Key": "e2e-1"})
        assert (status, replay["id"]) == (201, result["id"])

        status, headers, problem = student.request("POST", url, raw=b"{nope")
        assert problem["status"] == 400
        assert status == 400
        assert headers["Content-Type"] == "application/problem+json"
        status, _, _ = student.request("POST", url, raw=b"1" * 10_000)
        assert status == 413
        # Chunked, without Content-Length: read up to the limit, then refused, never
        # truncated to the limit and graded.
        chunked = [b'{"forward": {"p0": 1}}', *[b" " * 1000] * 10]
        status, headers, problem = student.request("POST", url, chunks=chunked)
        assert status == 413, problem
        assert headers["Content-Type"] == "application/problem+json"
        status, _, accepted = student.request("POST", url, chunks=chunked[:2])
        assert status == 201, accepted

        status, _, listed = student.request("GET", url)
        assert [a["id"] for a in listed] == [result["id"], accepted["id"]]
        status, _, _ = Http(port).request("GET", "/api/v1/exercises")
        assert status == 401
        assert Http(port).request("GET", "/api/v1/openapi.json")[0] == 200
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output
    assert "Traceback" not in output, output
