"""Submit throughput of the grading service under gunicorn on PostgreSQL.

    .venv/bin/python benchmarks/submit_load.py [--clients 32] [--seconds 30] [--rounds 6]
        [--workers N] [--threads T] [--worker-class gthread|sync]

Sets up a course with 200 students and a 30-blank exercise (forward values and
gradients of a 13-gate graph) directly in a fresh PostgreSQL schema, serves
`grader.app:create_app()` with the gunicorn configuration of `grader serve`
(grader/gunicorn_conf.py) on a free loopback port, and drives concurrent
practice and assignment submissions from persistent connections: every blank rounded to
6 decimals, and one student in four with a slip (one forward value off by 10%, which
grading finds and explains). In the same run, the
same gunicorn configuration serves the ceiling: a minimal Flask endpoint that only
parses the same JSON and inserts one row. Prints requests/s and p50/p99 latency of
both, the ratio, the errors, and checks that every acknowledged attempt is stored.
The two are measured in alternating rounds (ceiling, submit, submit, ceiling, ...), so
that other jobs loading the machine weigh on both alike.

Targets, each printed PASS or MISSED; the exit status is 1 when any is missed:
submit throughput at least 50% of the ceiling's, submit p99 under 100 ms, no errors,
and as many attempts stored as acknowledged.

DATABASE_URL selects the server (default: the local CI database,
postgresql+psycopg://postgres@127.0.0.1:5432/test); the schema is dropped at the end.
Traffic goes to 127.0.0.1 only, and every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import Variant, solve  # noqa: E402
from grader import db  # noqa: E402
from grader.config import Settings  # noqa: E402
from grader.models import Attempt, CourseRole, Role  # noqa: E402
from grader.services import accounts, courses, exercises, variants  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STUDENTS = 200
SLIP_EVERY = 4  # one student in four submits with a slip; the others are right throughout
MIN_THROUGHPUT_RATIO = 0.5
MAX_P99_MS = 100.0
MAX_REQUESTS_PER_RUN = 200_000  # a hard bound besides the time limit
WORKER_CLASSES = ("gthread", "sync")  # gunicorn's own

# 4 inputs, 13 gates: 13 forward values + 17 gradients = 30 blanks.
EXERCISE_YAML = """\
id: bench-thirty-blanks
title: Thirty blanks (benchmark)
inputs:
  x0: {uniform: [0.5, 1.5], step: 0.25}
  x1: {uniform: [-1.5, -0.5], step: 0.25}
  x2: {uniform: [0.5, 1.5], step: 0.25}
  x3: {uniform: [0.5, 2.0], step: 0.25}
nodes:
  - {id: a, op: mul, in: [x0, x1]}
  - {id: b, op: add, in: [x2, x3]}
  - {id: c, op: mul, in: [a, b]}
  - {id: d, op: sigmoid, in: [c]}
  - {id: e, op: mul, in: [d, x0]}
  - {id: f, op: add, in: [e, b]}
  - {id: g, op: tanh, in: [f]}
  - {id: h, op: scale, in: [g], a: 2}
  - {id: i, op: add_const, in: [h], c: 1}
  - {id: j, op: mul, in: [i, a]}
  - {id: k, op: sin, in: [j]}
  - {id: l, op: add, in: [k, d]}
  - {id: m, op: mul, in: [l, x3]}
output: m
ask: [forward, backward]
"""

CEILING_APP = '''
"""The ceiling: parse the JSON body, insert one row, answer 201. Its connections are
set up as the service's submit path uses them (no pre-ping, autocommit)."""
import json, os
from flask import Flask, Response, request
from sqlalchemy import create_engine, text

def create_app():
    app = Flask("ceiling")
    engine = create_engine(os.environ["DATABASE_URL"], pool_size=5, max_overflow=5,
                           pool_pre_ping=False, isolation_level="AUTOCOMMIT")
    @app.post("/ingest")
    def ingest():
        body = json.loads(request.get_data())
        with engine.begin() as connection:
            new_id = connection.execute(
                text("INSERT INTO bench_ingest (body) VALUES (:body) RETURNING id"),
                {"body": json.dumps(body)}).scalar_one()
        return Response(json.dumps({"id": new_id}), status=201, mimetype="application/json")
    return app
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_schema(url: str, schema: str) -> str:
    parsed = make_url(url)
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


@dataclass
class Setup:
    tokens: list[str]
    practice_bodies: list[bytes]
    assignment_bodies: list[bytes]
    assignment_id: int


def answers(solution: Any, exercise: Any, slip: bool) -> dict[str, Any]:
    """Every blank rounded to 6 decimals; with `slip`, one forward value off by 10%
    (graded in full: the slip found and explained, the rest checked against it)."""
    gates = [g.id for g in exercise.gates]
    typed = {
        "forward": {g: round(solution.values[g], 6) for g in gates},
        "backward": {n: round(solution.grads[n], 6) for n in [*exercise.inputs, *gates]},
    }
    if slip:
        typed["forward"]["c"] = round(solution.values["c"] * 1.1, 6)
    return typed


def set_up(url: str) -> Setup:
    """Users, tokens, course, enrollments, assignment and each student's variants,
    written directly through the service layer (setup is not what is measured)."""
    settings = Settings(database_url=url, testing=True)
    engine = db.make_engine(url, settings)
    session = sessionmaker(engine, expire_on_commit=False)()
    exercise = exercises.parse_exercise_text(EXERCISE_YAML, max_bytes=None)
    version = exercises.store_exercise(session, exercise, owner=None).version
    teacher = accounts.create_user(session, "teacher", Role.INSTRUCTOR)
    course = courses.create_course(session, teacher, "Benchmark course")
    assignment = courses.create_assignment(session, teacher, course.id, exercise.id, None,
                                           None, None, False)
    tokens, practice, assigned = [], [], []
    for n in range(STUDENTS):
        username = f"student{n:03d}"
        student = accounts.create_user(session, username, Role.STUDENT)
        courses.enroll(session, teacher, course.id, username, CourseRole.STUDENT)
        tokens.append(accounts.create_token(session, username))
        for target, assignment_or_none in ((practice, None), (assigned, assignment)):
            record = variants.current_variant(session, student, version, assignment_or_none)
            solution = solve(Variant(exercise, record.seed, dict(record.inputs)))
            slip = n % SLIP_EVERY == SLIP_EVERY - 1
            target.append(json.dumps(answers(solution, exercise, slip)).encode())
    session.close()
    engine.dispose()
    return Setup(tokens, practice, assigned, assignment.id)


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seconds: float = 0.0

    def record(self, status: int, latency: float) -> None:
        with self.lock:
            self.latencies.append(latency)
            self.statuses[status] = self.statuses.get(status, 0) + 1

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def line(self, name: str) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        rate = self.requests / self.seconds
        return (f"{name:<28} {rate:9.1f} req/s   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   "
                f"statuses {dict(sorted(self.statuses.items()))}")


def drive(port: int, requests: list[tuple[str, bytes, dict[str, str]]], clients: int,
          seconds: float, run: Run | None = None) -> Run:
    """`clients` threads, each on one keep-alive connection, cycling through the
    requests until the time is up; added to `run` when given."""
    run = run if run is not None else Run()
    deadline = time.monotonic() + seconds
    counter = iter(range(MAX_REQUESTS_PER_RUN))
    counter_lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            with counter_lock:
                n = next(counter, None)
            if n is None:
                return
            path, body, headers = requests[n % len(requests)]
            started = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                status = 0
            run.record(status, time.perf_counter() - started)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds += time.monotonic() - started
    return run


def wait_ready(port: int, path: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not start")


def workers_cpu_seconds(master: int) -> float:
    """CPU time used so far by a gunicorn master's worker processes (Linux /proc): the
    live ones', and that of workers which exited (restarted), which the master has
    collected."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{master}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[13]) + int(fields[14])) / ticks  # cutime + cstime
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:  # ppid
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def workers_rss_mib(master: int) -> list[float]:
    """Resident memory of a gunicorn master's live workers, MiB."""
    sizes = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = dict(line.split(":", 1) for line in status.read_text().splitlines()
                         if ":" in line)
        except OSError:
            continue
        if int(lines.get("PPid", "0").strip()) == master and "VmRSS" in lines:
            sizes.append(int(lines["VmRSS"].split()[0]) / 1024)
    return sorted(sizes)


def postgres_cpu_seconds() -> float:
    """CPU time of every local postgres process (0 when the server is elsewhere)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class Target:
    name: str
    met: bool
    measured: str

    def line(self) -> str:
        return f"{'PASS' if self.met else 'MISSED':<6} {self.name}: {self.measured}"


def targets(ceiling: Run, submit: Run, stored: int) -> list[Target]:
    acknowledged = submit.statuses.get(201, 0)
    errors = submit.requests - acknowledged
    ratio = throughput_ratio(ceiling, submit)
    p99 = p99_ms(submit)
    return [
        Target(f"submit throughput >= {MIN_THROUGHPUT_RATIO:.0%} of the ceiling",
               ratio >= MIN_THROUGHPUT_RATIO, f"{ratio:.0%}"),
        Target(f"submit p99 < {MAX_P99_MS:g} ms", p99 < MAX_P99_MS, f"{p99:.1f} ms"),
        Target("no errors", errors == 0 and submit.requests > 0,
               f"{errors} of {submit.requests} requests not answered 201"),
        Target("stored == acknowledged", stored == acknowledged,
               f"acknowledged {acknowledged}, stored {stored}"),
    ]


def throughput_ratio(ceiling: Run, submit: Run) -> float:
    return (submit.requests / submit.seconds) / (ceiling.requests / ceiling.seconds)


def p99_ms(run: Run) -> float:
    ordered = sorted(run.latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def summary_line(ceiling: Run, submit: Run, stored: int) -> str:
    """The run in one machine-readable line, printed last."""
    acknowledged = submit.statuses.get(201, 0)
    return (f"submit/ceiling {throughput_ratio(ceiling, submit) * 100:.0f}% "
            f"p99 {p99_ms(submit):.0f} ms errors {submit.requests - acknowledged} "
            f"lost {acknowledged - stored}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="measured seconds of each server, over all rounds")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--worker-class", choices=WORKER_CLASSES, default="gthread",
                        help="gthread: what grader serve runs")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    schema = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = with_schema(base, schema)
    servers: list[subprocess.Popen] = []
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / schema
    try:
        db.upgrade(url)
        with create_engine(url, poolclass=NullPool).begin() as connection:
            connection.execute(text("CREATE TABLE bench_ingest (id serial PRIMARY KEY, "
                                    "body json NOT NULL)"))
        print(f"setting up {STUDENTS} students ...", flush=True)
        setup = set_up(url)

        workdir.mkdir(parents=True)
        (workdir / "ceiling_app.py").write_text(CEILING_APP)
        env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(48),
               "GRADER_ACCESS_LOG": "", "GRADER_LOG_LEVEL": "warning",
               # The throughput is measured here, not the limits: none is reached.
               "GRADER_RATE_LIMIT_SUBMIT_USER": "1000000/minute",
               "GRADER_RATE_LIMIT_SUBMIT_IP": "1000000/minute"}
        if args.workers:
            env["GRADER_WORKERS"] = str(args.workers)
        if args.threads:
            env["GRADER_THREADS"] = str(args.threads)
        gunicorn_options = ["--worker-class", args.worker_class]

        ceiling_port, grader_port = free_port(), free_port()
        ceiling = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:grader.gunicorn_conf",
             *gunicorn_options, "--bind", f"127.0.0.1:{ceiling_port}",
             "--chdir", str(workdir), "ceiling_app:create_app()"], env=env)
        servers.append(ceiling)
        grader = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:grader.gunicorn_conf",
             *gunicorn_options, "--bind", f"127.0.0.1:{grader_port}",
             "grader.app:create_app()"], env=env, cwd=ROOT)
        servers.append(grader)
        wait_ready(ceiling_port, "/", ceiling)
        wait_ready(grader_port, "/readyz", grader)

        submissions: list[tuple[str, bytes, dict[str, str]]] = []
        ingest: list[tuple[str, bytes, dict[str, str]]] = []
        for n, token in enumerate(setup.tokens):
            auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            submissions.append(("/api/v1/exercises/bench-thirty-blanks/attempts",
                                setup.practice_bodies[n], auth))
            submissions.append((f"/api/v1/assignments/{setup.assignment_id}/attempts",
                                setup.assignment_bodies[n], auth))
            ingest.append(("/ingest", setup.practice_bodies[n],
                           {"Content-Type": "application/json"}))

        warmup = min(2.0, args.seconds / 5)
        drive(ceiling_port, ingest, args.clients, warmup)
        drive(grader_port, submissions, args.clients, warmup)
        with create_engine(url, poolclass=NullPool).connect() as connection:
            before = connection.execute(select(func.count(Attempt.id))).scalar_one()
        rss_before = workers_rss_mib(grader.pid)

        print(f"one submission in {SLIP_EVERY} with a slip; "
              f"{args.clients} clients, {args.seconds:g} s each in {args.rounds} rounds, "
              f"worker class {args.worker_class}, workers {env.get('GRADER_WORKERS', 'default')}, "
              f"threads {env.get('GRADER_THREADS', 'default')}", flush=True)
        ceiling_run, submit_run = Run(), Run()
        cpu = {"ceiling": 0.0, "submit": 0.0}
        pg = {"ceiling": 0.0, "submit": 0.0}
        phases = {"ceiling": (ceiling, ingest, ceiling_run),
                  "submit": (grader, submissions, submit_run)}
        for round_number in range(args.rounds):
            order = ["ceiling", "submit"] if round_number % 2 == 0 else ["submit", "ceiling"]
            for name in order:
                server, requests, run = phases[name]
                port = ceiling_port if name == "ceiling" else grader_port
                worker_cpu, pg_cpu = workers_cpu_seconds(server.pid), postgres_cpu_seconds()
                drive(port, requests, args.clients, args.seconds / args.rounds, run)
                cpu[name] += workers_cpu_seconds(server.pid) - worker_cpu
                pg[name] += postgres_cpu_seconds() - pg_cpu
        print(ceiling_run.line("ceiling (parse + insert)"))
        print(submit_run.line("submit (practice+assignment)"))
        print(f"CPU per request, workers: ceiling "
              f"{cpu['ceiling'] / ceiling_run.requests * 1000:.2f} ms, submit "
              f"{cpu['submit'] / submit_run.requests * 1000:.2f} ms; postgres: ceiling "
              f"{pg['ceiling'] / ceiling_run.requests * 1000:.2f} ms, submit "
              f"{pg['submit'] / submit_run.requests * 1000:.2f} ms", flush=True)
        rss_after = workers_rss_mib(grader.pid)
        print(f"service workers' memory (RSS, MiB) after warm-up "
              f"{', '.join(f'{m:.0f}' for m in rss_before)}; at the end "
              f"{', '.join(f'{m:.0f}' for m in rss_after)}", flush=True)

        with create_engine(url, poolclass=NullPool).connect() as connection:
            stored = connection.execute(select(func.count(Attempt.id))).scalar_one() - before
        results = targets(ceiling_run, submit_run, stored)
        for target in results:
            print(target.line())
        missed = [t.name for t in results if not t.met]
        print(f"MISSED {len(missed)} of {len(results)} targets" if missed
              else "all targets met", flush=True)
        print(summary_line(ceiling_run, submit_run, stored), flush=True)
        return 1 if missed else 0
    finally:
        for server in servers:
            stop(server)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        for leftover in workdir.glob("*"):
            leftover.unlink()
        if workdir.exists():
            workdir.rmdir()


if __name__ == "__main__":
    sys.exit(main())
