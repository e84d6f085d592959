"""A deadline rush: a class of students submitting an assignment in its last minute,
through nginx, against one and then two `grader serve` replicas on one PostgreSQL.

    .venv/bin/python benchmarks/deadline_rush.py [--students 500] [--submissions 3]
        [--seconds 60] [--workers 2] [--threads 4] [--clients 128]

Each configuration gets its own servers on a fresh PostgreSQL schema: `grader serve`
(the first one migrates and loads the bundled exercises), nginx with the project's
configuration (deploy/nginx/grader.conf.template) taking turns between the replicas,
the default rate limits counted in Redis (when it answers on 127.0.0.1:6379; else in
each worker's memory, said on the first line), GRADER_TRUSTED_PROXIES=1. Every student
is enrolled in an assignment of the bundled sigmoid neuron (random inputs: a variant
each) allowing `--submissions` attempts, and sends that many, each at a random moment
of the `--seconds` window (open loop: a request goes out at its time whether or not the
earlier ones were answered; one student in four slips on one value). All come from
127.0.0.1, as a class behind one campus NAT would.

Prints, for one replica (the baseline, in the same run) and for two: the submissions
acknowledged per second, p50/p99 latency counted from each submission's scheduled
moment (the wait a student sees), the errors by status (any 429 is a rate limit that
the rush reached), and whether as many attempts are stored as were acknowledged. Exit
status 1 when any submission failed or stored != acknowledged.

DATABASE_URL selects the server (default: the local CI database,
postgresql+psycopg://postgres@127.0.0.1:5432/test); the schemas are dropped at the end.
Traffic goes to 127.0.0.1 only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import queue
import random
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# The helpers the proxy tests use start the servers.
sys.path.insert(0, str(REPO / "tests" / "grader"))

from local_servers import grader_serve, nginx_binary, nginx_proxy  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import sessionmaker  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from engine import Variant, solve  # noqa: E402
from grader import db  # noqa: E402
from grader.config import Settings  # noqa: E402
from grader.models import Attempt, CourseRole, Role  # noqa: E402
from grader.services import accounts, courses, exercises, variants  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
EXERCISE = "sigmoid-neuron-random"
SLIP_EVERY = 4
MAX_BODY_BYTES = 1_048_576
DEFAULT_LIMITS = {f"GRADER_{name.upper()}": str(Settings.model_fields[name].default)
                  for name in ("rate_limit_submit_user", "rate_limit_submit_ip",
                               "rate_limit_sign_in_user", "rate_limit_sign_in_ip")}


def with_schema(url: str, schema: str) -> str:
    parsed = make_url(url)
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


@contextlib.contextmanager
def fresh_schema(base: str) -> Iterator[str]:
    schema = f"rush_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield with_schema(base, schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def redis_reachable() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


@dataclass
class Class:
    """The students' tokens and answers (one body per student), and the assignment."""

    tokens: list[str]
    bodies: list[bytes]
    assignment_id: int


def set_up(url: str, students: int, attempts: int) -> Class:
    """The course, its students and each one's variant, through the service layer
    (setup is not what is measured)."""
    engine = db.make_engine(url, Settings(database_url=url, testing=True))
    session = sessionmaker(engine, expire_on_commit=False)()
    try:
        version = exercises.latest_version(session, EXERCISE)
        exercise = exercises.parse_exercise_text(version.yaml_text, max_bytes=None)
        teacher = accounts.create_user(session, "teacher", Role.INSTRUCTOR)
        course = courses.create_course(session, teacher, "Deadline rush")
        assignment = courses.create_assignment(session, teacher, course.id, EXERCISE,
                                               attempts, None, None, False)
        tokens, bodies = [], []
        for n in range(students):
            username = f"student{n:03d}"
            student = accounts.create_user(session, username, Role.STUDENT)
            courses.enroll(session, teacher, course.id, username, CourseRole.STUDENT)
            tokens.append(accounts.create_token(session, username))
            record = variants.current_variant(session, student, version, assignment)
            solution = solve(Variant(exercise, record.seed, dict(record.inputs)))
            gates = [g.id for g in exercise.gates]
            typed = {"forward": {g: round(solution.values[g], 2) for g in gates},
                     "backward": {k: round(solution.grads[k], 2)
                                  for k in [*exercise.inputs, *gates]}}
            if n % SLIP_EVERY == SLIP_EVERY - 1:
                typed["forward"][gates[0]] = round(solution.values[gates[0]] * 1.1 + 0.5, 2)
            bodies.append(json.dumps(typed).encode())
        return Class(tokens, bodies, assignment.id)
    finally:
        session.close()
        engine.dispose()


@dataclass
class Rush:
    latencies: list[float] = field(default_factory=list)  # of acknowledged submissions
    statuses: dict[int, int] = field(default_factory=dict)  # 0: no answer
    lock: threading.Lock = field(default_factory=threading.Lock)
    seconds: float = 0.0

    def record(self, status: int, latency: float) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 201:
                self.latencies.append(latency)

    @property
    def acknowledged(self) -> int:
        return self.statuses.get(201, 0)

    @property
    def errors(self) -> dict[int, int]:
        return {s: n for s, n in sorted(self.statuses.items()) if s != 201}

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("inf")
        return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * share + 0.5) - 1))]


def rush(port: int, group: Class, submissions: int, seconds: float, clients: int,
         seed: int) -> Rush:
    """Every student's submissions at random moments of the window, sent by `clients`
    threads as their moments come (each on a connection of its own, as browsers
    would), timed from the moment each was due."""
    chooser = random.Random(seed)
    path = f"/api/v1/assignments/{group.assignment_id}/attempts"
    schedule = sorted((chooser.uniform(0, seconds), n) for n in range(len(group.tokens))
                      for _ in range(submissions))
    due: queue.Queue[tuple[float, int] | None] = queue.Queue()
    for item in schedule:
        due.put(item)
    for _ in range(clients):
        due.put(None)
    result = Rush()
    start = time.monotonic() + 0.5

    def client() -> None:
        while (item := due.get()) is not None:
            moment, student = item
            time.sleep(max(0.0, start + moment - time.monotonic()))
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("POST", path, body=group.bodies[student], headers={
                    "Authorization": f"Bearer {group.tokens[student]}",
                    "Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
            finally:
                connection.close()
            result.record(status, time.monotonic() - (start + moment))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - start
    return result


def stored_attempts(url: str, assignment_id: int) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(Attempt).where(
                Attempt.assignment_id == assignment_id)).scalar_one()
    finally:
        engine.dispose()


def run_configuration(base: str, replicas: int, options: argparse.Namespace,
                      use_redis: bool) -> tuple[Rush, int]:
    settings = {**DEFAULT_LIMITS, "GRADER_TRUSTED_PROXIES": "1",
                "GRADER_RATE_LIMIT_PREFIX": f"rush-{secrets.token_hex(6)}",
                "GRADER_DB_POOL_SIZE": str(max(5, options.threads))}
    if use_redis:
        settings["REDIS_URL"] = REDIS_URL
    with fresh_schema(base) as url, contextlib.ExitStack() as servers:
        ports = [servers.enter_context(grader_serve(url, workers=options.workers,
                                                    threads=options.threads, **settings))
                 for _ in range(replicas)]
        group = set_up(url, options.students, options.submissions)
        proxy = servers.enter_context(nginx_proxy(ports[0], MAX_BODY_BYTES, ports[1:]))
        result = rush(proxy, group, options.submissions, options.seconds, options.clients,
                      seed=replicas)
        return result, stored_attempts(url, group.assignment_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--submissions", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2, help="per replica")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--clients", type=int, default=128,
                        help="sending threads (at most this many submissions in flight)")
    options = parser.parse_args()
    if nginx_binary() is None:
        print("nginx is not installed (apt-get install nginx)", file=sys.stderr)
        return 1
    base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    use_redis = redis_reachable()
    total = options.students * options.submissions
    print(f"{options.students} students x {options.submissions} submissions = {total} "
          f"within {options.seconds:g} s through nginx; {options.workers} workers x "
          f"{options.threads} threads per replica; rate limits "
          + ("in Redis" if use_redis else "in each worker's memory (Redis unreachable)")
          + f", defaults {DEFAULT_LIMITS['GRADER_RATE_LIMIT_SUBMIT_USER']} per user, "
          f"{DEFAULT_LIMITS['GRADER_RATE_LIMIT_SUBMIT_IP']} per address", flush=True)
    failed = False
    for replicas in (1, 2):
        result, stored = run_configuration(base, replicas, options, use_redis)
        rate = result.acknowledged / result.seconds
        consistent = stored == result.acknowledged
        print(f"{replicas} replica{'s' if replicas > 1 else ' '}  "
              f"acknowledged {result.acknowledged:5d}/{total} in {result.seconds:5.1f} s "
              f"= {rate:6.1f}/s   p50 {result.percentile(0.50) * 1000:7.1f} ms   "
              f"p99 {result.percentile(0.99) * 1000:7.1f} ms   errors {result.errors or 0}   "
              f"stored {stored} {'==' if consistent else '!='} acknowledged "
              f"{result.acknowledged}", flush=True)
        failed = failed or bool(result.errors) or not consistent
    print("FAILED: some submissions were refused or lost" if failed else
          "every submission acknowledged and stored")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
