"""How long the server takes to answer the exercise page of a 50-gate graph.

A generated exercise of 50 gates (5 inputs; `grading_speed.exercise_yaml`) is stored in
a fresh SQLite database; a signed-in student opens its practice page through the app
(Flask's test client: the whole request, cookie session and database reads included,
no network). The layout is cached after the first request, as in a running worker.
Two pages are timed:

* empty: the page before any attempt (105 boxes);
* graded: the page after an attempt with every blank wrong, so every box has a status
  and a message (the heaviest page of that exercise).

For each, the median and 95th percentile of the request, and the median of the
rendering alone (building the page and its template, no database), are printed. The
baseline, timed in the same run, is the home page of the same student (the same cookie
session, a small page without a graph): what any page costs on this machine now.

Target: median request under 20 ms for both (the exit code is 1 when one misses it).

    python benchmarks/page_render.py [--gates 50] [--requests 300] [--seed 0] [--ask-local]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from grading_speed import INPUTS, exercise_yaml

from grader import db, sessions
from grader.app import create_app
from grader.models import Role
from grader.services import accounts, exercises, history, practice, sign_in
from grader.web.graph_page import Attempts, page_of

TARGET_SECONDS = 0.020


def measure(call, requests: int) -> list[float]:
    for _ in range(20):  # warm: the layout, the parsed spec, the compiled templates
        call()
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def describe(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"median {statistics.median(times) * 1e3:6.2f} ms, p95 {p95 * 1e3:6.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gates", type=int, default=50)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ask-local", action="store_true")
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="page-render-"))
    url = f"sqlite:///{folder / 'grader.sqlite3'}"
    db.upgrade(url)
    app = create_app({"testing": True, "database_url": url, "secret_key": "b" * 40})
    text = exercise_yaml(options.gates + INPUTS, random.Random(options.seed),
                         ask_local=options.ask_local)
    with app.app_context():
        session = sessions.get_session()
        exercise = exercises.parse_exercise_text(text, max_bytes=None)
        exercises.store_exercise(session, exercise, owner=None)
        student = accounts.create_user(session, "sam", Role.STUDENT)
        link = sign_in.create_link(session, "sam", 1)
    client = app.test_client()
    page = client.get(link.url(""))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
    client.post(link.url(""), data={"csrf_token": token})

    boxes = len(re.findall(r"data-blank=", client.get("/exercises/bench").text))
    print(f"exercise: {len(exercise.gates)} gates, {len(exercise.inputs)} inputs, "
          f"{boxes} boxes; {options.requests} requests each")

    def request() -> None:
        response = client.get("/exercises/bench")
        assert response.status_code == 200

    def render_alone() -> None:
        with app.test_request_context("/exercises/bench"):
            from flask import render_template

            from grader.web import browser

            browser.load_visitor()
            shown = None
            records = practice.practice_attempts(sessions.get_session(), student, "bench")
            if records:
                shown = history.practice_attempt(sessions.get_session(), student, "bench",
                                                 records[-1].number)
            start = time.perf_counter()
            built = page_of(exercise, variant_inputs, 1, attempts=Attempts(len(records), None),
                            history=[], action="/exercises/bench", shown=shown)
            render_template("exercise.html", page=built, example="0.39",
                            current_url="/exercises/bench")
            rendered.append(time.perf_counter() - start)

    with app.app_context():
        _version, variant = practice.practice_variant(sessions.get_session(), student, "bench")
        variant_inputs = dict(variant.inputs)
    def home() -> None:
        assert client.get("/").status_code == 200

    baseline = statistics.median(measure(home, options.requests))
    print(f"baseline (home page) request: median {baseline * 1e3:6.2f} ms")
    failed = False
    for case in ("empty", "graded"):
        if case == "graded":
            fields = {k: "0" for k in re.findall(r'data-blank="([^"]+)"',
                                                 client.get("/exercises/bench").text)}
            fields["csrf_token"] = token_of(client)
            assert client.post("/exercises/bench", data=fields).status_code == 303
        times = measure(request, options.requests)
        rendered: list[float] = []
        measure(render_alone, max(options.requests // 3, 20))
        median = statistics.median(times)
        failed |= median > TARGET_SECONDS
        print(f"{case:7s} request: {describe(times)}; rendering alone: median "
              f"{statistics.median(rendered) * 1e3:6.2f} ms; "
              f"{median / baseline:.1f}× the baseline")
    print(f"target: median request < {TARGET_SECONDS * 1e3:.0f} ms: "
          f"{'missed' if failed else 'met'}")
    return 1 if failed else 0


def token_of(client) -> str:
    page = client.get("/exercises/bench")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]


if __name__ == "__main__":
    sys.exit(main())
