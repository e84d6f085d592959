"""`grader worker`: takes the score passback jobs and sends them to the LMSs.

Several workers may run at once (`outbox.claim` gives each job to one). A try that
the LMS refuses for good (a 4xx) parks the job for an instructor; one it cannot
answer now (5xx, 429, a timeout) is tried again after a backoff.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy.orm import Session

from grader.lti import keys, outbox
from grader.lti.outbox import SCORE_MAXIMUM, ScoreToSend
from grader.lti.services import LmsClient, Refused, Retryable

logger = logging.getLogger(__name__)
BATCH = 20


def score_body(job: ScoreToSend) -> dict[str, object]:
    return {
        "userId": job.user_sub, "scoreGiven": job.score_given, "scoreMaximum": SCORE_MAXIMUM,
        "activityProgress": "Completed", "gradingProgress": "FullyGraded",
        "timestamp": job.timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def send(session: Session, client: LmsClient, job_id: int) -> None:
    """One try of one taken job, and its outcome recorded."""
    job = outbox.score_to_send(session, job_id)
    if job.user_sub is None:
        outbox.mark_parked(session, job_id, "the student has no account at this LMS")
        return
    try:
        key = keys.signing_key(session)
        lineitem = job.lineitem_url
        if lineitem is None:
            if job.lineitems_url is None:
                outbox.mark_parked(session, job_id, "the LMS gave no line items endpoint "
                                   "(AGS) for this course")
                return
            made = client.find_or_create_line_item(job.platform, key, job.lineitems_url,
                                                   job.resource_link_id, job.label,
                                                   SCORE_MAXIMUM)
            lineitem = outbox.remember_line_item(session, job.link_id, made)
        client.post_score(job.platform, key, lineitem, score_body(job))
    except Retryable as exc:
        logger.info("score job %s: will retry: %s", job_id, exc)
        outbox.mark_retry(session, job_id, job.tries, str(exc), exc.retry_after)
        return
    except Refused as exc:
        logger.warning("score job %s: refused by the LMS: %s", job_id, exc)
        outbox.mark_parked(session, job_id, str(exc))
        return
    outbox.mark_done(session, job_id)


def run_once(session: Session, client: LmsClient, now: datetime | None = None) -> int:
    """Take a batch of due jobs and try each; how many were taken."""
    taken = outbox.claim(session, BATCH, now)
    for job_id in taken:
        try:
            send(session, client, job_id)
        except Exception as exc:  # one job's surprise must not stop the batch
            logger.exception("score job %s failed", job_id)
            session.rollback()
            try:
                outbox.mark_failed(session, job_id, f"unexpected failure: {exc!r}")
            except Exception:  # the database itself: the lease lets another try later
                logger.exception("score job %s: its failure could not be recorded", job_id)
                session.rollback()
    return len(taken)


def run(session: Session, client: LmsClient, stop: threading.Event,
        idle_seconds: float = 2.0) -> None:
    """Work until `stop` is set, resting when no job is due."""
    while not stop.is_set():
        try:
            busy = run_once(session, client)
        except Exception:  # a worker outlives a database restart or a bad row
            logger.exception("score passback failed; retrying shortly")
            session.rollback()
            busy = 0
        if not busy:
            stop.wait(idle_seconds)
