"""Names and Role Provisioning: an instructor pulls a course's membership from the LMS
(every page, following rel="next") and everyone in it is enrolled with the role the LMS
gives, their account made as a launch would make it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.i18n import gettext as _
from grader.lti import keys
from grader.lti.launch import course_role, enrol, lms_user
from grader.lti.messages import is_subject
from grader.lti.services import LmsClient, Refused, Retryable
from grader.models import Enrollment, LtiContext, LtiDeployment, LtiPlatform
from grader.services.accounts import Caller
from grader.services.courses import course_access
from grader.services.errors import Conflict, ServiceError
from grader.services.transactions import transaction


class LmsUnavailable(ServiceError):
    """The LMS did not give the membership (502)."""

    code = "lms-unavailable"


@dataclass(frozen=True)
class RosterPull:
    members: int  # active members read
    enrolled: int  # newly enrolled


def has_lms_roster(session: Session, course_id: int) -> bool:
    """Whether an LMS course linked to this course offers its membership."""
    return session.execute(
        select(LtiContext.id).where(LtiContext.course_id == course_id,
                                    LtiContext.memberships_url.is_not(None)).limit(1)
    ).first() is not None


def pull_roster(session: Session, actor: Caller, course_id: int, client: LmsClient
                ) -> RosterPull:
    """Enrol every active member of the LMS courses linked to a course (course
    instructors; Conflict when none offers its membership; LmsUnavailable)."""
    with transaction(session):
        course_access(session, actor, course_id, manage=True)
        sources = session.execute(
            select(LtiContext.memberships_url, LtiPlatform)
            .join(LtiDeployment, LtiDeployment.id == LtiContext.deployment_id)
            .join(LtiPlatform, LtiPlatform.id == LtiDeployment.platform_id)
            .where(LtiContext.course_id == course_id,
                   LtiContext.memberships_url.is_not(None))).all()
        if not sources:
            raise Conflict(_("No LMS has given this course's membership yet: an instructor "
                             "must launch the tool from the LMS course first."))
        key = keys.signing_key(session)
    fetched: list[tuple[LtiPlatform, dict[str, Any]]] = []
    for url, platform in sources:
        try:
            fetched += [(platform, m) for m in client.members(platform, key, url or "")]
        except (Retryable, Refused) as exc:
            raise LmsUnavailable(_("The LMS did not give the membership: {answer}").format(
                answer=str(exc)[:300])) from None
    with transaction(session):
        before = set(session.execute(select(Enrollment.user_id).where(
            Enrollment.course_id == course_id)).scalars())
        members = 0
        for platform, member in fetched:
            subject = member.get("user_id")
            if not is_subject(subject) or member.get("status", "Active") != "Active":
                continue  # no account is matched by an empty, too long or broken id
            members += 1
            role = course_role(member.get("roles"), platform.assistants_teach)
            user = lms_user(session, platform.issuer, subject, role, member)
            session.flush()
            enrol(session, course_id, user.id, role)
            session.flush()
        after = set(session.execute(select(Enrollment.user_id).where(
            Enrollment.course_id == course_id)).scalars())
    return RosterPull(members, len(after - before))
