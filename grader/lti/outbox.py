"""The score passback jobs: a transactional outbox.

A job is written by the statement after the attempt's INSERT, in the same transaction
(`enqueue_scores`): an attempt that is stored has its job, and one that is not has
none. Workers take jobs with one UPDATE whose subquery picks due, unleased jobs `FOR
UPDATE SKIP LOCKED` on PostgreSQL (two workers never wait on, nor take, the same row;
SQLite has one writer at a time, so the same statement is safe there as it is); the
taken job is leased for a while, so a job whose worker died is taken again once its
lease runs out. The outcome of a try is recorded afterwards, outside any lock held
while the LMS was called.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from grader.i18n import gettext as _
from grader.models import (
    Assignment,
    Attempt,
    LmsIdentity,
    LtiContext,
    LtiDeployment,
    LtiPlatform,
    LtiResourceLink,
    LtiScoreJob,
    ScoreJobState,
    ScorePolicy,
    User,
    utcnow,
)
from grader.services.accounts import Caller
from grader.services.courses import course_access
from grader.services.errors import NotFound
from grader.services.gradebook import counted_score
from grader.services.transactions import transaction

LEASE = timedelta(minutes=5)
FIRST_BACKOFF_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 3600.0
MAX_TRIES = 25  # about a day of backoff; then the job is parked for an instructor
SCORE_MAXIMUM = 100.0


def enqueue_scores(session: Session, attempt_id: int, assignment_id: int) -> None:
    """A job per placement of the assignment, for a new attempt (in the caller's
    transaction)."""
    now = utcnow()
    jobs = LtiScoreJob.metadata.tables[LtiScoreJob.__tablename__]
    session.execute(insert(jobs).from_select(
        ["attempt_id", "resource_link_id", "state", "tries", "run_after", "created_at"],
        select(literal(attempt_id), LtiResourceLink.id, literal(ScoreJobState.PENDING.value),
               literal(0), literal(now, type_=jobs.c.run_after.type),
               literal(now, type_=jobs.c.created_at.type))
        .where(LtiResourceLink.assignment_id == assignment_id)))


def claim(session: Session, limit: int, now: datetime | None = None) -> list[int]:
    """Take up to `limit` due jobs for this worker, leased until `now + LEASE`."""
    now = now or utcnow()
    due = and_(LtiScoreJob.state == ScoreJobState.PENDING, LtiScoreJob.run_after <= now,
               or_(LtiScoreJob.locked_until.is_(None), LtiScoreJob.locked_until < now))
    picked = (select(LtiScoreJob.id).where(due).order_by(LtiScoreJob.id).limit(limit)
              .with_for_update(skip_locked=True).scalar_subquery())
    with transaction(session):
        taken = session.execute(
            update(LtiScoreJob).where(LtiScoreJob.id.in_(picked), due)
            .values(locked_until=now + LEASE, tries=LtiScoreJob.tries + 1)
            .returning(LtiScoreJob.id)
            .execution_options(synchronize_session=False)
        ).scalars().all()
    return sorted(taken)


@dataclass(frozen=True)
class ScoreToSend:
    """What one job sends: where, for whom, and the score."""

    job_id: int
    tries: int
    platform: LtiPlatform
    link_id: int
    resource_link_id: str
    link_title: str
    lineitem_url: str | None
    lineitems_url: str | None
    user_sub: str | None
    score_given: float
    timestamp: datetime
    label: str


def score_to_send(session: Session, job_id: int) -> ScoreToSend:
    """A taken job's score, stamped with the time of the job's attempt: the best so far
    at the assignment, or under the latest policy the job's attempt's own (the LMS
    keeps the newest by its time), so that the LMS ends with the score the gradebook
    counts."""
    with transaction(session):
        row = session.execute(
            select(LtiScoreJob, Attempt, LtiResourceLink, LtiContext, LtiPlatform)
            .join(Attempt, Attempt.id == LtiScoreJob.attempt_id)
            .join(LtiResourceLink, LtiResourceLink.id == LtiScoreJob.resource_link_id)
            .join(LtiContext, LtiContext.id == LtiResourceLink.context_id)
            .join(LtiDeployment, LtiDeployment.id == LtiContext.deployment_id)
            .join(LtiPlatform, LtiPlatform.id == LtiDeployment.platform_id)
            .where(LtiScoreJob.id == job_id)
        ).one()
        job, attempt, link, context, platform = row
        subject = session.execute(
            select(LmsIdentity.subject).where(LmsIdentity.user_id == attempt.user_id,
                                              LmsIdentity.issuer == platform.issuer)
        ).scalar_one_or_none()
        assignment = session.get_one(Assignment, attempt.assignment_id)
        # Latest: each attempt's own score, stamped with its time (the LMS keeps the
        # newest); best: the best so far, whichever attempt's job carries it.
        counted = attempt.score if assignment.score_policy is ScorePolicy.LATEST else (
            counted_score(session, attempt.user_id, assignment))
        return ScoreToSend(
            job.id, job.tries, platform, link.id, link.resource_link_id, link.title,
            link.lineitem_url, context.lineitems_url, subject,
            round(float(counted or 0.0) * SCORE_MAXIMUM, 4), attempt.created_at,
            link.title or assignment.exercise_version.title)


def remember_line_item(session: Session, link_id: int, url: str) -> str:
    """Store a placement's line item unless another worker stored one first; the one
    stored."""
    with transaction(session):
        session.execute(update(LtiResourceLink)
                        .where(LtiResourceLink.id == link_id,
                               LtiResourceLink.lineitem_url.is_(None))
                        .values(lineitem_url=url))
        stored = session.get_one(LtiResourceLink, link_id, populate_existing=True)
        return stored.lineitem_url or url


def backoff_seconds(tries: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: up to 5 s, 10 s, 20 s, ... (capped)."""
    ceiling = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** max(tries - 1, 0))
    return (rng or random).uniform(ceiling / 2, ceiling)


def mark_done(session: Session, job_id: int) -> None:
    with transaction(session):
        session.execute(update(LtiScoreJob).where(LtiScoreJob.id == job_id).values(
            state=ScoreJobState.DONE, done_at=utcnow(), locked_until=None, last_error=None))


def mark_retry(session: Session, job_id: int, tries: int, error: str,
               retry_after: float | None) -> None:
    """Try again after the backoff (at least the LMS's Retry-After); parked once the
    tries run out."""
    if tries >= MAX_TRIES:
        mark_parked(session, job_id, error)
        return
    delay = min(max(backoff_seconds(tries), retry_after or 0.0), MAX_BACKOFF_SECONDS)
    with transaction(session):
        session.execute(update(LtiScoreJob).where(LtiScoreJob.id == job_id).values(
            run_after=utcnow() + timedelta(seconds=delay), locked_until=None,
            last_error=error[:4000]))


def mark_failed(session: Session, job_id: int, error: str) -> None:
    """A try that failed in a way nobody foresaw: retried like a server error."""
    with transaction(session):
        tries = session.execute(select(LtiScoreJob.tries).where(LtiScoreJob.id == job_id)
                                ).scalar_one()
    mark_retry(session, job_id, tries, error, None)


def mark_parked(session: Session, job_id: int, error: str) -> None:
    with transaction(session):
        session.execute(update(LtiScoreJob).where(LtiScoreJob.id == job_id).values(
            state=ScoreJobState.PARKED, locked_until=None, last_error=error[:4000]))


@dataclass(frozen=True)
class ParkedScore:
    job_id: int
    username: str
    display_name: str | None
    attempt_number: int
    error: str


def parked_scores(session: Session, actor: Caller, assignment_id: int) -> list[ParkedScore]:
    """The passbacks of an assignment that the LMS refused (course instructors)."""
    with transaction(session):
        assignment = session.get(Assignment, assignment_id)
        if assignment is None:
            raise NotFound(_("no assignment {id}").format(id=assignment_id))
        course_access(session, actor, assignment.course_id, manage=True)
        rows = session.execute(
            select(LtiScoreJob.id, User.username, User.display_name, Attempt.number,
                   LtiScoreJob.last_error)
            .join(Attempt, Attempt.id == LtiScoreJob.attempt_id)
            .join(User, User.id == Attempt.user_id)
            .where(Attempt.assignment_id == assignment_id,
                   LtiScoreJob.state == ScoreJobState.PARKED)
            .order_by(LtiScoreJob.id)).all()
        return [ParkedScore(r[0], r[1], r[2], r[3], r[4] or "") for r in rows]


def retry_parked(session: Session, actor: Caller, assignment_id: int, job_id: int) -> None:
    """Send a parked score again (course instructors; NotFound)."""
    with transaction(session):
        found = session.execute(
            select(LtiScoreJob, Attempt.assignment_id)
            .join(Attempt, Attempt.id == LtiScoreJob.attempt_id)
            .where(LtiScoreJob.id == job_id, Attempt.assignment_id == assignment_id)
        ).first()
        assignment = session.get(Assignment, assignment_id)
        if found is None or assignment is None:
            raise NotFound(_("no refused score {id}").format(id=job_id))
        course_access(session, actor, assignment.course_id, manage=True)
        job = found[0]
        job.state = ScoreJobState.PENDING
        job.tries = 0
        job.run_after = utcnow()
        job.locked_until = None
