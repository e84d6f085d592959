"""Grade passback (AGS): a score job written with each attempt at an assignment placed
in an LMS, sent by `grader worker` to the fake LMS exactly once, across failures, 429s,
a worker that stops midway, and several workers at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fake_lms import INSTRUCTOR, LEARNER, NOT_HTTP, Failures, FakeLms
from lti_helpers import launch
from page_client import Elements
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine import draw_variant, load_exercise, solve
from grader import sessions
from grader.lti import outbox, worker
from grader.lti.services import LmsClient
from grader.models import Attempt, LtiScoreJob, ScoreJobState, utcnow

EXERCISE = "sigmoid-neuron"


def new_session(app) -> Session:
    return sessionmaker(sessions.get_engine(app), expire_on_commit=False)()


@pytest.fixture
def worker_session(app) -> Iterator[Session]:
    session = new_session(app)
    yield session
    session.close()


def csrf_of(page) -> str:
    return Elements(page.text).all("input", name="csrf_token")[0]["value"]


@pytest.fixture
def teacher(app):
    return app.test_client()


@pytest.fixture
def placed(app, lms, load_bundled, teacher) -> int:
    """An assignment placed in the fake LMS by its instructor."""
    load_bundled(EXERCISE)
    first = launch(teacher, lms, sub="teacher-1", roles=(INSTRUCTOR,))
    page = teacher.get(first.headers["Location"])
    linked = teacher.post(first.headers["Location"],
                          data={"csrf_token": csrf_of(page), "exercise": EXERCISE})
    assert linked.status_code == 303
    return int(linked.headers["Location"].rsplit("/", 1)[1])


def right_fields(page_text: str, wrong: bool = False) -> dict[str, str]:
    """The assignment page's form with every box answered (right, or all zero)."""
    from conftest import bundled_text

    solution = solve(draw_variant(load_exercise(bundled_text(EXERCISE)), None))
    fields = {}
    for attrs in Elements(page_text).all("input"):
        name = attrs.get("name", "")
        if ":" not in name:
            if name and attrs.get("type") != "submit":
                fields[name] = attrs.get("value", "")
            continue
        kind, node, *rest = name.split(":")
        if kind == "forward":
            value = solution.values[node]
        elif kind == "backward":
            value = solution.grads[node]
        else:
            value = solution.local_gradients(node)[rest[0]]
        fields[name] = "0" if wrong else repr(float(value))
    fields.pop("next", None)
    return fields


def submit_on_the_page(client, assignment: int, wrong: bool = False):
    page = client.get(f"/assignments/{assignment}")
    assert page.status_code == 200, page.text
    response = client.post(f"/assignments/{assignment}", data=right_fields(page.text, wrong))
    assert response.status_code == 303, response.text
    return response


@pytest.fixture
def student_client(app, lms, placed):
    client = app.test_client()
    response = launch(client, lms, sub="student-1", roles=(LEARNER,))
    assert response.headers["Location"] == f"/assignments/{placed}"
    return client


def jobs(app) -> list[tuple[ScoreJobState, int]]:
    with app.app_context():
        return [(j.state, j.tries) for j in sessions.get_session().execute(
            select(LtiScoreJob).order_by(LtiScoreJob.id)).scalars()]


def run_until_idle(session, client, now=None, rounds: int = 10) -> None:
    for _ in range(rounds):
        if worker.run_once(session, client, now) == 0:
            return


def later(minutes: float):
    return utcnow() + timedelta(minutes=minutes)


# ---------------------------------------------------------------- the full flow


def test_a_students_graded_attempt_reaches_the_lms_once(app, lms, placed, student_client,
                                                        worker_session):
    submit_on_the_page(student_client, placed)
    assert jobs(app) == [(ScoreJobState.PENDING, 0)]
    client = LmsClient()
    run_until_idle(worker_session, client)
    run_until_idle(worker_session, client, later(600))  # nothing left to send, ever
    (score,) = lms.scores
    assert score["userId"] == "student-1"
    assert score["scoreGiven"] == 100.0 and score["scoreMaximum"] == 100.0
    assert score["activityProgress"] == "Completed"
    assert score["gradingProgress"] == "FullyGraded"
    assert score["timestamp"].endswith("Z")
    assert jobs(app) == [(ScoreJobState.DONE, 1)]
    assert lms.token_problems == [] and lms.tokens_issued == 1


def test_the_best_score_is_sent_and_the_line_item_is_made_once(app, lms, placed,
                                                                student_client,
                                                                worker_session):
    submit_on_the_page(student_client, placed)
    submit_on_the_page(student_client, placed, wrong=True)
    client = LmsClient()
    run_until_idle(worker_session, client)
    assert [s["scoreGiven"] for s in lms.scores] == [100.0, 100.0]  # best, as the gradebook
    assert len(lms.line_items) == 1
    (item,) = lms.line_items.values()
    assert item["scoreMaximum"] == 100.0 and item["resourceLinkId"] == "link-1"
    assert lms.tokens_issued == 1  # the token is kept, not asked for per score


def test_under_the_latest_policy_the_latest_score_is_sent(app, lms, placed, student_client,
                                                          worker_session):
    from sqlalchemy import update

    from grader.models import Assignment, ScorePolicy

    with app.app_context():
        session = new_session(app)
        session.execute(update(Assignment).where(Assignment.id == placed)
                        .values(score_policy=ScorePolicy.LATEST))
        session.commit()
        session.close()
    submit_on_the_page(student_client, placed)
    submit_on_the_page(student_client, placed, wrong=True)
    run_until_idle(worker_session, LmsClient())
    first, second = (s["scoreGiven"] for s in lms.scores)
    assert first == 100.0 and second < 100.0  # the latest, as the gradebook counts it


def test_an_attempt_that_is_refused_writes_no_job(app, lms, placed, student_client):
    page = student_client.get(f"/assignments/{placed}")
    fields = {k: ("" if ":" in k else v) for k, v in right_fields(page.text).items()}
    response = student_client.post(f"/assignments/{placed}", data=fields)
    assert response.status_code == 422
    assert jobs(app) == []


def test_the_api_submit_writes_the_attempt_and_its_job_together(app, lms, placed,
                                                                 student_client):
    """The API's submit runs in autocommit; placed in an LMS, it takes a transaction."""
    from conftest import _right_answers

    from grader.models import LmsIdentity, User
    from grader.services import accounts

    with app.app_context():
        session = sessions.get_session()
        user = session.execute(select(User).join(LmsIdentity)
                               .where(LmsIdentity.subject == "student-1")).scalar_one()
        token = accounts.create_token(session, user.username)
    headers = {"Authorization": f"Bearer {token}"}
    api = app.test_client()
    variant = api.get(f"/api/v1/assignments/{placed}", headers=headers).json
    response = api.post(f"/api/v1/assignments/{placed}/attempts",
                        json=_right_answers(variant), headers=headers)
    assert response.status_code == 201, response.json
    assert response.json["score"] == 1.0
    assert jobs(app) == [(ScoreJobState.PENDING, 0)]


# ---------------------------------------------------------------- failures


def test_server_errors_are_retried_with_backoff_until_the_score_arrives_once(
        app, lms, placed, student_client, worker_session):
    submit_on_the_page(student_client, placed)
    lms.failures["scores"] = Failures([500, 503, 502])
    client = LmsClient()
    run_until_idle(worker_session, client)
    assert lms.scores == [] and jobs(app) == [(ScoreJobState.PENDING, 1)]
    for minutes in (1, 2, 4, 8):  # each retry waits longer than the one before
        run_until_idle(worker_session, client, later(minutes))
    run_until_idle(worker_session, client, later(30))
    assert len(lms.scores) == 1
    assert jobs(app) == [(ScoreJobState.DONE, 4)]


def test_a_429_is_retried_no_sooner_than_its_retry_after(app, lms, placed, student_client,
                                                         worker_session):
    submit_on_the_page(student_client, placed)
    lms.failures["scores"] = Failures([429], retry_after="600")
    client = LmsClient()
    run_until_idle(worker_session, client)
    run_until_idle(worker_session, client, later(9))
    assert lms.scores == []
    run_until_idle(worker_session, client, later(11))
    assert len(lms.scores) == 1


def test_a_refused_score_is_parked_with_the_lms_answer_and_can_be_retried(
        app, lms, placed, student_client, worker_session, teacher):
    submit_on_the_page(student_client, placed)
    lms.failures["scores"] = Failures([403])
    client = LmsClient()
    run_until_idle(worker_session, client)
    run_until_idle(worker_session, client, later(600))
    assert lms.scores == [] and jobs(app) == [(ScoreJobState.PARKED, 1)]
    page = teacher.get(f"/instructor/assignments/{placed}")
    assert page.status_code == 200
    assert "Scores the LMS refused" in page.text
    assert "HTTP 403" in page.text and "failing on purpose" in page.text
    (button,) = [f for f in Elements(page.text).all("form")
                 if "/refused-scores/" in f.get("action", "")]
    again = teacher.post(button["action"], data={"csrf_token": csrf_of(page)})
    assert again.status_code == 303
    assert "Scores the LMS refused" not in teacher.get(f"/instructor/assignments/{placed}").text
    run_until_idle(worker_session, client)
    assert len(lms.scores) == 1 and jobs(app) == [(ScoreJobState.DONE, 1)]


def test_a_worker_that_stops_midway_leaves_its_job_to_the_next_once_its_lease_ends(
        app, lms, placed, student_client, worker_session):
    submit_on_the_page(student_client, placed)
    taken = outbox.claim(worker_session, 10)  # ... and the worker stops here
    assert len(taken) == 1
    client = LmsClient()
    run_until_idle(worker_session, client)  # another worker: the job is leased
    assert lms.scores == []
    run_until_idle(worker_session, client, later(6))  # the lease has run out
    assert len(lms.scores) == 1
    run_until_idle(worker_session, client, later(60))
    assert len(lms.scores) == 1


def test_a_token_the_lms_no_longer_takes_is_dropped_and_a_new_one_sends_at_once(
        app, lms, placed, student_client, worker_session):
    client = LmsClient()
    submit_on_the_page(student_client, placed)
    run_until_idle(worker_session, client)
    lms.revoke_tokens()  # the LMS restarted, or revoked its tokens, before they expired
    submit_on_the_page(student_client, placed)
    run_until_idle(worker_session, client)
    assert len(lms.scores) == 2 and lms.unauthorized == 1
    assert jobs(app) == [(ScoreJobState.DONE, 1), (ScoreJobState.DONE, 1)]


def test_a_401_with_a_new_token_too_is_retried_later_not_parked(
        app, lms, placed, student_client, worker_session):
    submit_on_the_page(student_client, placed)
    lms.failures["scores"] = Failures([401, 401])
    client = LmsClient()
    run_until_idle(worker_session, client)
    assert lms.scores == [] and jobs(app) == [(ScoreJobState.PENDING, 1)]
    run_until_idle(worker_session, client, later(2))
    assert len(lms.scores) == 1 and jobs(app) == [(ScoreJobState.DONE, 2)]


def test_a_token_endpoint_that_refuses_the_assertion_is_retried_not_parked(
        app, lms, placed, student_client, worker_session):
    """As right after `grader lti key rotate`, while the LMS keeps the old key set."""
    submit_on_the_page(student_client, placed)
    lms.failures["token"] = Failures([400, 401])
    client = LmsClient()
    run_until_idle(worker_session, client)
    assert jobs(app) == [(ScoreJobState.PENDING, 1)]
    run_until_idle(worker_session, client, later(5))  # one more refusal, then a token
    assert len(lms.scores) == 1 and jobs(app) == [(ScoreJobState.DONE, 3)]


def test_a_refusing_token_endpoint_parks_the_score_once_the_tries_run_out(
        app, lms, placed, student_client, worker_session):
    submit_on_the_page(student_client, placed)
    lms.failures["token"] = Failures([400] * (outbox.MAX_TRIES + 1))
    client = LmsClient()
    for day in range(outbox.MAX_TRIES + 1):
        run_until_idle(worker_session, client, later(60 * 24 * day))
    assert lms.scores == [] and jobs(app) == [(ScoreJobState.PARKED, outbox.MAX_TRIES)]


def errors(app) -> list[str | None]:
    with app.app_context():
        return list(sessions.get_session().execute(
            select(LtiScoreJob.last_error).order_by(LtiScoreJob.id)).scalars())


def test_an_answer_that_is_not_http_is_retried_with_its_error_kept(
        app, lms, placed, student_client, worker_session):
    submit_on_the_page(student_client, placed)
    lms.failures["scores"] = Failures([NOT_HTTP])
    client = LmsClient()
    run_until_idle(worker_session, client)
    assert jobs(app) == [(ScoreJobState.PENDING, 1)]
    assert "not proper HTTP" in (errors(app)[0] or "")
    run_until_idle(worker_session, client, later(2))
    assert len(lms.scores) == 1 and jobs(app) == [(ScoreJobState.DONE, 2)]


def test_a_huge_retry_after_waits_at_most_the_longest_backoff(
        app, lms, placed, student_client, worker_session):
    submit_on_the_page(student_client, placed)
    lms.failures["scores"] = Failures([429], retry_after="9" * 400)
    client = LmsClient()
    run_until_idle(worker_session, client)
    assert jobs(app) == [(ScoreJobState.PENDING, 1)]
    run_until_idle(worker_session, client, later(61))
    assert len(lms.scores) == 1


def test_one_jobs_unexpected_failure_does_not_stop_the_batch(
        app, lms, placed, student_client, worker_session, monkeypatch):
    submit_on_the_page(student_client, placed)
    submit_on_the_page(student_client, placed)
    client = LmsClient()
    real = client.post_score
    calls = []

    def first_breaks(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "post_score", first_breaks)
    assert worker.run_once(worker_session, client) == 2
    assert jobs(app) == [(ScoreJobState.PENDING, 1), (ScoreJobState.DONE, 1)]
    assert "a bug" in (errors(app)[0] or "")
    run_until_idle(worker_session, client, later(2))
    assert jobs(app) == [(ScoreJobState.DONE, 2), (ScoreJobState.DONE, 1)]


def test_retry_after_is_capped_at_the_longest_backoff():
    from grader.lti.services import retry_after_seconds

    assert retry_after_seconds("9" * 400) == outbox.MAX_BACKOFF_SECONDS
    assert retry_after_seconds("Fri, 31 Dec 9999 23:59:59 GMT") == outbox.MAX_BACKOFF_SECONDS
    assert retry_after_seconds("120") == 120.0


def test_a_timeout_is_retried(app, lms, placed, student_client, worker_session):
    submit_on_the_page(student_client, placed)
    silent = FakeLms()  # the token endpoint is a server that never answers in time
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        with app.app_context():
            from grader.models import LtiPlatform

            session = sessions.get_session()
            platform = session.execute(select(LtiPlatform)).scalar_one()
            good_url = platform.token_url
            platform.token_url = f"http://127.0.0.1:{listener.getsockname()[1]}/token"
            session.commit()
        client = LmsClient(timeout=0.3)
        run_until_idle(worker_session, client)
        assert jobs(app) == [(ScoreJobState.PENDING, 1)]
        with app.app_context():
            session = sessions.get_session()
            platform = session.execute(select(LtiPlatform)).scalar_one()
            platform.token_url = good_url
            session.commit()
        run_until_idle(worker_session, client, later(2))
        assert len(lms.scores) == 1
    finally:
        listener.close()
        silent.close()


# ---------------------------------------------------------------- several workers


def test_concurrent_workers_send_each_score_once(app, lms, placed, student_client, users,
                                                 is_postgres):
    for _ in range(6):
        submit_on_the_page(student_client, placed)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work() -> None:
        session = new_session(app)
        client = LmsClient()
        try:
            barrier.wait()
            run_until_idle(session, client)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            session.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(lms.scores) == 6
    assert [state for state, _tries in jobs(app)] == [ScoreJobState.DONE] * 6
    assert [tries for _state, tries in jobs(app)] == [1] * 6
    with app.app_context():
        assert sessions.get_session().execute(
            select(func.count()).select_from(Attempt)).scalar_one() == 6


def test_grader_worker_sends_the_score_and_stops_on_sigterm(app, lms, placed, student_client,
                                                            database_url):
    import os
    import signal
    import subprocess
    import sys
    import time

    submit_on_the_page(student_client, placed)
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("SECRET_KEY", None)
    worker_process = subprocess.Popen(
        [sys.executable, "-m", "grader.service_cli", "worker"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not lms.scores and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(lms.scores) == 1
    finally:
        worker_process.send_signal(signal.SIGTERM)
        _out, err = worker_process.communicate(timeout=30)
    assert worker_process.returncode == 0, err
    assert jobs(app) == [(ScoreJobState.DONE, 1)]


# ---------------------------------------------------------------- removing a platform


def platform_id_of(app) -> int:
    from grader.models import LtiPlatform

    with app.app_context():
        return sessions.get_session().execute(select(LtiPlatform.id)).scalar_one()


def test_a_platform_with_unsent_scores_is_removed_only_with_force(
        app, lms, placed, student_client, runner, database_url, monkeypatch):
    from grader import service_cli

    monkeypatch.delenv("SECRET_KEY", raising=False)
    env = {"DATABASE_URL": database_url}
    submit_on_the_page(student_client, placed)
    platform_id = str(platform_id_of(app))
    refused = runner.invoke(service_cli.lti, ["platform", "remove", platform_id], env=env)
    assert refused.exit_code == 1, refused.output
    assert "(1)" in refused.output and "--force" in refused.output
    assert jobs(app) == [(ScoreJobState.PENDING, 0)]
    forced = runner.invoke(service_cli.lti, ["platform", "remove", "--force", platform_id],
                           env=env)
    assert forced.exit_code == 0, forced.output
    assert jobs(app) == []


def test_the_api_refuses_to_remove_a_platform_with_parked_scores_unless_forced(
        app, lms, placed, student_client, worker_session, admin):
    submit_on_the_page(student_client, placed)
    lms.failures["scores"] = Failures([403])
    run_until_idle(worker_session, LmsClient())
    assert jobs(app) == [(ScoreJobState.PARKED, 1)]
    platform_id = platform_id_of(app)
    refused = admin.delete(f"/api/v1/lti/platforms/{platform_id}")
    assert refused.status_code == 409, refused.json
    assert refused.json["type"].endswith("lti-scores-waiting")
    assert refused.json["unsent_scores"] == 1 and "(1)" in refused.json["detail"]
    assert admin.delete(f"/api/v1/lti/platforms/{platform_id}?force=true").status_code == 204
    assert jobs(app) == []


def test_an_admin_updates_a_platforms_token_url_and_its_scores_are_kept(
        app, lms, placed, student_client, worker_session, runner, database_url, monkeypatch):
    from grader import service_cli

    monkeypatch.delenv("SECRET_KEY", raising=False)
    env = {"DATABASE_URL": database_url}
    platform_id = str(platform_id_of(app))
    moved = runner.invoke(service_cli.lti, ["platform", "update", platform_id, "--token-url",
                                            "http://127.0.0.1:9/token"], env=env)
    assert moved.exit_code == 0, moved.output
    submit_on_the_page(student_client, placed)
    run_until_idle(worker_session, LmsClient(timeout=2))
    assert lms.scores == [] and jobs(app) == [(ScoreJobState.PENDING, 1)]
    back = runner.invoke(service_cli.lti, ["platform", "update", platform_id, "--token-url",
                                           lms.url + "/token"], env=env)
    assert back.exit_code == 0, back.output
    run_until_idle(worker_session, LmsClient(), later(2))
    assert len(lms.scores) == 1
    bad = runner.invoke(service_cli.lti, ["platform", "update", platform_id, "--jwks-url",
                                          "ftp://x"], env=env)
    assert bad.exit_code == 2 and "--jwks-url" in bad.output
    missing = runner.invoke(service_cli.lti, ["platform", "update", "999999", "--jwks-url",
                                              "https://x.example/jwks"], env=env)
    assert missing.exit_code == 1 and "no LTI platform" in missing.output
