"""Launching from an LMS: the OIDC login initiation, then the launch itself.

The login (`begin_login`) sends the browser to the platform's login endpoint with a
fresh `state` (which the browser also keeps in a cookie) and a fresh `nonce` (stored,
bound to the state, for ten minutes). The launch (`accept_launch`) takes the id_token
the platform posts back: the state must be the browser's, the token must pass every
check of `messages`, and its nonce must be the stored one, unused: one UPDATE marks it
used, so a replayed token is refused. Then the user (by issuer and `sub`), the course
(by deployment and context) and the placement (by resource link) are found or made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from grader.i18n import gettext as _
from grader.lti.messages import (
    AGS_ENDPOINT,
    CONTEXT,
    CUSTOM,
    DEEP_LINKING_REQUEST,
    DEEP_LINKING_SETTINGS,
    NRPS,
    RESOURCE_LINK,
    ROLES,
    CheckedToken,
    LaunchRefused,
    check_id_token,
    has_nul,
    row_id,
    storable,
    unverified_issuer,
)
from grader.lti.platform_keys import PlatformKeys
from grader.lti.platforms import deployment_of, platforms_of_issuer
from grader.models import (
    Assignment,
    Course,
    CourseRole,
    Enrollment,
    LmsIdentity,
    LtiContext,
    LtiNonce,
    LtiPlatform,
    LtiResourceLink,
    Role,
    User,
    utcnow,
)
from grader.services.transactions import transaction

LOGIN_MINUTES = 10
MAX_IDENTIFIER = 255  # the context and resource link id columns
STATE_BYTES = 32

# Only context (membership) roles decide the course role: an institution or system
# role (a teacher elsewhere in the university, a system administrator) does not.
CONTEXT_ROLE_PREFIXES = ("http://purl.imsglobal.org/vocab/lis/v2/membership#",
                         "http://purl.imsglobal.org/vocab/lis/v2/membership/")
# The LIS role names (the part after '#' of the role URIs) that teach a course.
TEACHING_ROLES = frozenset({"Instructor", "ContentDeveloper", "Administrator"})
ASSISTANT_ROLE = "TeachingAssistant"
LEARNER_ROLE = "Learner"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class LoginRedirect:
    """Where the login initiation sends the browser, and the state it keeps."""

    url: str
    state: str


def _with_query(url: str, parameters: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(parameters)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def begin_login(session: Session, parameters: Mapping[str, str], redirect_uri: str
                ) -> LoginRedirect:
    """The authentication request for an OIDC login initiation's parameters (iss,
    login_hint, target_link_uri; client_id, lti_deployment_id and lti_message_hint
    when the platform sends them); LaunchRefused for an unregistered issuer, client or
    deployment, or a missing parameter."""
    missing = [name for name in ("iss", "login_hint", "target_link_uri")
               if not parameters.get(name)]
    if any(has_nul(v) for v in parameters.values()):
        raise LaunchRefused(_("The LMS's login request is not valid."))
    if missing:
        raise LaunchRefused(_("The LMS's login request lacks {names}.").format(
            names=", ".join(missing)))
    with transaction(session):
        platform = _login_platform(session, parameters)
        # Expired nonces are of no more use: each login clears them, so none pile up.
        session.execute(delete(LtiNonce).where(LtiNonce.expires_at <= utcnow()))
        state = secrets.token_urlsafe(STATE_BYTES)
        nonce = secrets.token_urlsafe(STATE_BYTES)
        now = utcnow()
        session.add(LtiNonce(platform_id=platform.id, nonce=nonce, state_hash=digest(state),
                             created_at=now, expires_at=now + timedelta(minutes=LOGIN_MINUTES)))
        request = {
            "scope": "openid", "response_type": "id_token", "response_mode": "form_post",
            "prompt": "none", "client_id": platform.client_id, "redirect_uri": redirect_uri,
            "login_hint": parameters["login_hint"], "state": state, "nonce": nonce,
        }
        if parameters.get("lti_message_hint"):
            request["lti_message_hint"] = parameters["lti_message_hint"]
        return LoginRedirect(_with_query(platform.auth_url, request), state)


def _login_platform(session: Session, parameters: Mapping[str, str]) -> LtiPlatform:
    registered = platforms_of_issuer(session, parameters["iss"])
    client_id = parameters.get("client_id")
    if client_id:
        registered = [p for p in registered if p.client_id == client_id]
    if not registered:
        raise LaunchRefused(_("The LMS that sent this launch (its issuer) is not "
                              "registered here."))
    if len(registered) > 1:
        raise LaunchRefused(_("The LMS's login request must name its client id."))
    platform = registered[0]
    deployment_id = parameters.get("lti_deployment_id")
    if deployment_id and deployment_of(platform, deployment_id) is None:
        raise LaunchRefused(_("The launch comes from a deployment that is not "
                              "registered here."))
    return platform


@dataclass(frozen=True)
class Launched:
    """Whom a launch signs in, and what it opens."""

    user_id: int
    course_id: int
    instructor: bool  # in the course
    resource_link: int | None  # the placement (LtiResourceLink.id); None: deep linking
    assignment_id: int | None  # what the placement opens; None: not linked yet
    deep_linking: dict[str, Any] | None = None  # the platform's deep linking settings
    deployment_row: int = 0  # the LtiDeployment launched from


def accept_launch(session: Session, id_token: str, state: str | None,
                  browser_state: str | None, keys: PlatformKeys) -> Launched:
    """Check a launch (LaunchRefused saying why) and record what it says."""
    if not state or not browser_state or not hmac.compare_digest(state, browser_state):
        raise LaunchRefused(_("This launch was not started from this browser (the state "
                              "does not match); open the activity again from the LMS."))
    issuer = unverified_issuer(id_token)
    with transaction(session):
        checked = check_id_token(id_token, platforms_of_issuer(session, issuer or ""), keys)
        _use_nonce(session, checked, state)
        return _record(session, checked)


def _use_nonce(session: Session, checked: CheckedToken, state: str) -> None:
    now = utcnow()
    used = session.execute(
        update(LtiNonce)
        .where(LtiNonce.nonce == str(checked.claims["nonce"]),
               LtiNonce.platform_id == checked.platform.id,
               LtiNonce.state_hash == digest(state),
               LtiNonce.used_at.is_(None), LtiNonce.expires_at > now)
        .values(used_at=now)
        .returning(LtiNonce.id)
    ).scalar_one_or_none()
    if used is None:
        raise LaunchRefused(_("This launch was used already, or has expired (its nonce "
                              "is not one this tool is waiting for)."))


def is_context_role(role: str) -> bool:
    """Whether a role is a context (course membership) role: a membership URI, or one
    of the short names LTI allows for context roles ("Instructor", "Learner")."""
    if role.startswith(CONTEXT_ROLE_PREFIXES):
        return True
    return ":" not in role and "/" not in role and "#" not in role


def role_names(roles: Any) -> set[str]:
    """The LIS role names of a roles claim's context roles: the part after '#' of each
    membership URI, or the short name; institution and system roles are left out."""
    if not isinstance(roles, list):
        return set()
    return {role.rsplit("#", 1)[-1] for role in roles
            if isinstance(role, str) and is_context_role(role)}


def course_role(roles: Any, assistants_teach: bool) -> CourseRole:
    """The course role of an LMS's roles: instructors, content developers and
    administrators teach; teaching assistants teach when the platform says so."""
    names = role_names(roles)
    if ASSISTANT_ROLE in names:
        return CourseRole.INSTRUCTOR if assistants_teach else CourseRole.STUDENT
    return CourseRole.INSTRUCTOR if names & TEACHING_ROLES else CourseRole.STUDENT


def _text(value: Any, limit: int) -> str | None:
    """A claim's text, trimmed to its column, without what no column stores (NUL, lone
    surrogates: a launch refuses them, a roster's member names lose them)."""
    if not isinstance(value, str):
        return None
    return storable(value).strip()[:limit] or None


def _identifier(value: Any) -> str | None:
    """An LMS id (context, resource link) as stored: refused when longer than its column,
    since two ids cut to one would be one course or placement."""
    found = _text(value, MAX_IDENTIFIER + 1)
    if found is not None and len(found) > MAX_IDENTIFIER:
        raise LaunchRefused(_("The launch names a course or placement by an id longer than "
                              "{count} characters.").format(count=MAX_IDENTIFIER))
    return found


def display_name(claims: Mapping[str, Any]) -> str | None:
    given = " ".join(p for p in (_text(claims.get("given_name"), 100),
                                 _text(claims.get("family_name"), 100)) if p)
    return _text(claims.get("name"), 200) or _text(given, 200)


def lms_user(session: Session, issuer: str, subject: str, role: CourseRole,
             claims: Mapping[str, Any]) -> User:
    """The user of an LMS account, made on its first launch; its name and email as the
    LMS says now; an instructor in the LMS is an instructor here (an admin stays one)."""
    user = session.execute(
        select(User).join(LmsIdentity, LmsIdentity.user_id == User.id)
        .where(LmsIdentity.issuer == issuer, LmsIdentity.subject == subject)
    ).scalar_one_or_none()
    wanted = Role.INSTRUCTOR if role is CourseRole.INSTRUCTOR else Role.STUDENT
    if user is None:
        user = User(username=f"lti-{digest(issuer + ' ' + subject)[:20]}", role=wanted)
        session.add(user)
        session.flush()
        session.add(LmsIdentity(user_id=user.id, issuer=issuer, subject=subject))
    elif user.role is Role.STUDENT and wanted is Role.INSTRUCTOR:
        user.role = Role.INSTRUCTOR
    user.display_name = display_name(claims) or user.display_name
    user.email = _text(claims.get("email"), 255) or user.email
    return user


def enrol(session: Session, course_id: int, user_id: int, role: CourseRole) -> None:
    """Enrol a user with the LMS's role (a changed role is updated)."""
    enrollment = session.execute(
        select(Enrollment).where(Enrollment.course_id == course_id,
                                 Enrollment.user_id == user_id)
    ).scalar_one_or_none()
    if enrollment is None:
        session.add(Enrollment(course_id=course_id, user_id=user_id, role=role))
    elif enrollment.role is not role:
        enrollment.role = role


def _record(session: Session, checked: CheckedToken) -> Launched:
    claims = checked.claims
    role = course_role(claims.get(ROLES), checked.platform.assistants_teach)
    if checked.message_type == DEEP_LINKING_REQUEST and role is not CourseRole.INSTRUCTOR:
        raise LaunchRefused(_("Only the course's instructors may add activities."))
    user = lms_user(session, checked.platform.issuer, str(claims["sub"]), role, claims)
    context = _context(session, checked, user, role)
    enrol(session, context.course_id, user.id, role)
    instructor = role is CourseRole.INSTRUCTOR
    if checked.message_type == DEEP_LINKING_REQUEST:
        return Launched(user.id, context.course_id, True, None, None,
                        checked.claim(DEEP_LINKING_SETTINGS), checked.deployment.id)
    link = _resource_link(session, checked, context)
    return Launched(user.id, context.course_id, instructor, link.id, link.assignment_id,
                    deployment_row=checked.deployment.id)


def _context(session: Session, checked: CheckedToken, user: User, role: CourseRole
             ) -> LtiContext:
    claim = checked.claim(CONTEXT)
    context_id = _identifier(claim.get("id"))
    if context_id is None:
        raise LaunchRefused(_("The launch names no course (its context claim)."))
    context = session.execute(
        select(LtiContext).where(LtiContext.deployment_id == checked.deployment.id,
                                 LtiContext.context_id == context_id)
    ).scalar_one_or_none()
    if context is None:
        if role is not CourseRole.INSTRUCTOR:
            raise LaunchRefused(_("This activity is not set up yet: your instructor must "
                                  "open it first."))
        title = (_text(claim.get("title"), 200) or _text(claim.get("label"), 200)
                 or context_id[:200])
        course = Course(title=title, created_by=user.id)
        session.add(course)
        session.flush()
        context = LtiContext(deployment_id=checked.deployment.id, context_id=context_id,
                             course_id=course.id)
        session.add(context)
    memberships = _text(checked.claim(NRPS).get("context_memberships_url"), 1000)
    lineitems = _text(checked.claim(AGS_ENDPOINT).get("lineitems"), 1000)
    context.memberships_url = memberships or context.memberships_url
    context.lineitems_url = lineitems or context.lineitems_url
    session.flush()
    return context


def _resource_link(session: Session, checked: CheckedToken, context: LtiContext
                   ) -> LtiResourceLink:
    claim = checked.claim(RESOURCE_LINK)
    link_id = _identifier(claim.get("id"))
    if link_id is None:
        raise LaunchRefused(_("The launch names no placement (its resource link claim)."))
    link = session.execute(
        select(LtiResourceLink).where(LtiResourceLink.context_id == context.id,
                                      LtiResourceLink.resource_link_id == link_id)
    ).scalar_one_or_none()
    if link is None:
        link = LtiResourceLink(context_id=context.id, resource_link_id=link_id)
        session.add(link)
    link.title = _text(claim.get("title"), 255) or link.title or ""
    link.lineitem_url = _text(checked.claim(AGS_ENDPOINT).get("lineitem"), 1000) or (
        link.lineitem_url)
    if link.assignment_id is None:
        link.assignment_id = _custom_assignment(session, checked, context.course_id)
    session.flush()
    return link


def _custom_assignment(session: Session, checked: CheckedToken, course_id: int) -> int | None:
    """The assignment a deep linking response named in the placement's custom
    parameters, when it is one of this course's."""
    assignment_id = row_id(checked.claim(CUSTOM).get("assignment_id"))
    if assignment_id is None:
        return None
    found = session.get(Assignment, assignment_id)
    return found.id if found is not None and found.course_id == course_id else None
