"""Deep Linking 2.0: an instructor's LtiDeepLinkingRequest is kept (`remember`) until
they choose, on a page, an exercise (made an assignment with the settings they set) or
one of the course's assignments; the answer (`answer`) is an LtiDeepLinkingResponse,
signed with the tool's key, that echoes the platform's `data` and places one
ltiResourceLink carrying a line item, so that the LMS gradebook column exists. Its
custom parameter `assignment_id` links the placement at its first launch.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grader.i18n import gettext as _
from grader.lti import keys
from grader.lti.launch import Launched
from grader.lti.messages import (
    DEPLOYMENT_ID,
    MESSAGE_TYPE,
    VERSION,
    LaunchRefused,
    row_id,
)
from grader.lti.outbox import SCORE_MAXIMUM
from grader.lti.platforms import is_plain_web_address
from grader.models import (
    Assignment,
    ExerciseVersion,
    Feedback,
    LtiDeepLink,
    LtiDeployment,
    LtiPlatform,
    ScorePolicy,
    utcnow,
)
from grader.services import courses, exercises
from grader.services.accounts import Caller
from grader.services.errors import NotFound, ValidationFailed
from grader.services.transactions import transaction

REQUEST_MINUTES = 60
RESPONSE_SECONDS = 300
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"


def remember(session: Session, launched: Launched, deployment_row: int) -> int:
    """Keep a deep linking request for the page; its id (LaunchRefused without a
    return URL)."""
    settings = launched.deep_linking or {}
    return_url = settings.get("deep_link_return_url")
    if not isinstance(return_url, str) or not is_plain_web_address(return_url):
        raise LaunchRefused(_("The LMS's deep linking request has no return address."))
    data = settings.get("data")
    with transaction(session):
        now = utcnow()
        request = LtiDeepLink(
            deployment_id=deployment_row, course_id=launched.course_id,
            user_id=launched.user_id, return_url=return_url,
            data=json.dumps(data) if data is not None else None, created_at=now,
            expires_at=now + timedelta(minutes=REQUEST_MINUTES))
        session.add(request)
        session.flush()
        return request.id


@dataclass(frozen=True)
class Choices:
    request_id: int
    course_id: int
    assignments: list[Assignment]
    exercises: list[ExerciseVersion]


def _request(session: Session, actor: Caller, request_id: int) -> LtiDeepLink:
    request = session.get(LtiDeepLink, request_id)
    if request is None or request.user_id != actor.id or request.used_at is not None or (
            request.expires_at <= utcnow()):
        raise NotFound(_("This request to add an activity is over; start it again from "
                         "the LMS."))
    return request


def choices(session: Session, actor: Caller, request_id: int) -> Choices:
    """What the instructor may place (NotFound for another's, used or expired request)."""
    with transaction(session):
        request = _request(session, actor, request_id)
        courses.course_access(session, actor, request.course_id, manage=True)
        assignments = list(session.execute(
            select(Assignment).where(Assignment.course_id == request.course_id)
            .order_by(Assignment.id)).scalars())
        return Choices(request.id, request.course_id, assignments,
                       exercises.visible_exercises(session, actor))


@dataclass(frozen=True)
class Answer:
    """The signed response and where the browser posts it."""

    return_url: str
    jwt: str
    assignment_id: int


@dataclass(frozen=True)
class Settings:
    max_attempts: int | None = None
    feedback: Feedback = Feedback.FULL
    score_policy: ScorePolicy = ScorePolicy.BEST


def answer(session: Session, actor: Caller, request_id: int, *, assignment: str | None,
           exercise: str | None, settings: Settings, launch_url: str) -> Answer:
    """Make (or take) the assignment and sign the response that places it; the request
    is used up."""
    if not assignment and not exercise:
        raise ValidationFailed(_("choose an assignment or an exercise"))
    # The request is used up first, by one UPDATE: of requests sent at once, one goes on
    # to make an assignment; it is given back when the choice turns out invalid.
    with transaction(session):
        request = _request(session, actor, request_id)
        course_id = request.course_id
        courses.course_access(session, actor, course_id, manage=True)
        used = session.execute(
            update(LtiDeepLink).where(LtiDeepLink.id == request_id,
                                      LtiDeepLink.used_at.is_(None))
            .values(used_at=utcnow()).returning(LtiDeepLink.id)).scalar_one_or_none()
        if used is None:
            raise NotFound(_("This request to add an activity is over; start it again from "
                             "the LMS."))
    try:
        chosen = _chosen(session, actor, course_id, assignment, exercise, settings)
    except BaseException:
        with transaction(session):
            session.execute(update(LtiDeepLink).where(LtiDeepLink.id == request_id)
                            .values(used_at=None))
        raise
    with transaction(session):
        request = session.get_one(LtiDeepLink, request_id)
        deployment = session.get_one(LtiDeployment, request.deployment_id)
        platform = session.get_one(LtiPlatform, deployment.platform_id)
        title = session.get_one(ExerciseVersion, chosen.exercise_version_id).title
        claims = response_claims(platform, deployment.deployment_id, request.data, title,
                                 chosen.id, launch_url)
        token = keys.signing_key(session).sign(claims)
        return Answer(request.return_url, token, chosen.id)


def _chosen(session: Session, actor: Caller, course_id: int, assignment: str | None,
            exercise: str | None, settings: Settings) -> Assignment:
    if assignment:
        with transaction(session):
            found = session.get(Assignment, number) if (
                number := row_id(assignment)) is not None else None
            if found is None or found.course_id != course_id:
                raise ValidationFailed(_("choose an assignment of this course"))
            return found
    return courses.create_assignment(
        session, actor, course_id, exercise or "", settings.max_attempts, None, None, False,
        settings.feedback, score_policy=settings.score_policy)


def response_claims(platform: LtiPlatform, deployment_id: str, data: str | None, title: str,
                    assignment_id: int, launch_url: str) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": platform.client_id, "aud": platform.issuer, "iat": now,
        "exp": now + RESPONSE_SECONDS, "nonce": secrets.token_urlsafe(16),
        MESSAGE_TYPE: "LtiDeepLinkingResponse", VERSION: "1.3.0",
        DEPLOYMENT_ID: deployment_id,
        DL + "content_items": [{
            "type": "ltiResourceLink", "title": title, "url": launch_url,
            "custom": {"assignment_id": str(assignment_id)},
            "lineItem": {"scoreMaximum": SCORE_MAXIMUM, "label": title,
                         "resourceId": str(assignment_id)},
        }],
    }
    if data is not None:
        claims[DL + "data"] = json.loads(data)
    return claims
