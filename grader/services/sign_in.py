"""Signing in without passwords: one-time sign-in links, and the browser sessions
they open.

A link carries a random secret (256 bits) that signs its user in once, until it
expires; a browser session is another random secret, kept in a cookie. Both are stored
only as SHA-256 hashes (like API tokens: no salt or stretching is needed for random
secrets) and found by that hash, so a database leak gives neither away. A link is used
by one UPDATE that marks it used only while it is unused and unexpired: of two requests
racing with the same link, exactly one signs in.

Forms on the pages carry a CSRF token derived from the browser's cookie secret (an
HMAC keyed with it): nothing more is stored, and a page of another site, which cannot
read the cookie, cannot make the token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from grader.db import first_row
from grader.i18n import gettext as _
from grader.models import (
    BrowserSession,
    CourseRole,
    Enrollment,
    Role,
    SignInLink,
    User,
    utcnow,
)
from grader.services.accounts import Caller, hash_secret, require_role, user_named
from grader.services.courses import course_access
from grader.services.errors import NotFound, ValidationFailed
from grader.services.transactions import transaction

SECRET_BYTES = 32
# secrets.token_urlsafe(32): 43 characters of [A-Za-z0-9_-]. Anything else is refused
# before the database is asked.
SECRET_FORMAT = re.compile(r"[A-Za-z0-9_-]{43}")
CSRF_PURPOSE = b"grader csrf token"
# Where a link's page is, below the service's base URL (grader.web serves it).
LINK_PATH = "/sign-in/"


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def well_formed(secret: str | None) -> bool:
    return secret is not None and SECRET_FORMAT.fullmatch(secret) is not None


# ---------------------------------------------------------------- sign-in links


@dataclass(frozen=True)
class IssuedLink:
    """A new sign-in link's secret, shown once."""

    username: str
    secret: str
    expires_at: datetime

    def url(self, base_url: str) -> str:
        """The link, below the service's address as people reach it."""
        return base_url.rstrip("/") + LINK_PATH + self.secret


def _issue(session: Session, user_id: int, username: str, hours: int,
           created_by: int | None) -> IssuedLink:
    secret = new_secret()
    expires_at = utcnow() + timedelta(hours=hours)
    session.add(SignInLink(user_id=user_id, secret_hash=hash_secret(secret),
                           created_by=created_by, expires_at=expires_at))
    return IssuedLink(username, secret, expires_at)


def create_link(session: Session, username: str, hours: int) -> IssuedLink:
    """A sign-in link for a user, valid once for `hours` (the command line: no actor;
    NotFound for an unknown user)."""
    with transaction(session):
        user = user_named(session, username)
        return _issue(session, user.id, user.username, hours, None)


def course_links(session: Session, actor: Caller, course_id: int,
                 usernames: Sequence[str] | None, hours: int) -> list[IssuedLink]:
    """A fresh sign-in link for each student of a course, or for the students named
    (course instructors; NotFound, Forbidden; ValidationFailed naming each username that
    is not a student of the course). Only an admin gets links for staff accounts
    enrolled as students: a link would hand an instructor another's account."""
    require_role(actor, Role.INSTRUCTOR)
    with transaction(session):
        course_access(session, actor, course_id, manage=True)
        # A link signs its user in: an instructor gets links for student accounts only
        # (a staff account enrolled as a student stays its owner's; admins: any).
        students = dict(session.execute(
            select(User.username, User.id)
            .join(Enrollment, Enrollment.user_id == User.id)
            .where(Enrollment.course_id == course_id,
                   Enrollment.role == CourseRole.STUDENT,
                   *(() if actor.role is Role.ADMIN else (User.role == Role.STUDENT,)))
            .order_by(User.username)
        ).all())
        if usernames is None:
            chosen = list(students)
        else:
            chosen = list(dict.fromkeys(usernames))
            unknown = [(k, name) for k, name in enumerate(usernames) if name not in students]
            if unknown:
                raise ValidationFailed(_("not every user named is a student of the course"),
                                       errors=[{"pointer": f"/users/{k}",
                                                "detail": _("{username!r} is not a student "
                                                            "of this course").format(
                                                    username=name)}
                                               for k, name in unknown])
        return [_issue(session, students[name], name, hours, actor.id) for name in chosen]


_LINK_OWNER = (
    select(User.id, User.username, User.role, User.language, SignInLink.created_by)
    .join(SignInLink, SignInLink.user_id == User.id)
    .where(SignInLink.secret_hash == bindparam("secret_hash"),
           SignInLink.used_at.is_(None), SignInLink.expires_at > bindparam("now"))
)


def link_owner(session: Session, secret: str) -> Caller | None:
    """Whom an unused, unexpired link signs in, without using it (None otherwise)."""
    if not well_formed(secret):
        return None
    row = first_row(session, _LINK_OWNER, {"secret_hash": hash_secret(secret),
                                           "now": utcnow()})
    if row is None or not _still_theirs(session, row.role, row.created_by):
        return None
    return Caller(row.id, row.username, row.role, row.language)


def _still_theirs(session: Session, role: Role, created_by: int | None) -> bool:
    """Whether a link may still sign its user in: one an instructor made for a student
    account stops working if the account has become staff since (admins' links and the
    operator's, `created_by` None, always work)."""
    if role is Role.STUDENT or created_by is None:
        return True
    return session.execute(select(User.role).where(User.id == created_by)
                           ).scalar_one_or_none() is Role.ADMIN


# ---------------------------------------------------------------- browser sessions


@dataclass(frozen=True)
class OpenedSession:
    """A browser session just opened: its secret goes into the cookie, once."""

    caller: Caller
    secret: str
    expires_at: datetime


def use_link(session: Session, secret: str, session_hours: int,
             replacing: str | None = None) -> OpenedSession | None:
    """Use a sign-in link: mark it used and open a browser session for its user, or
    None when the link is unknown, used or expired. `replacing`: the secret of the
    browser's current session, ended in the same transaction."""
    if not well_formed(secret):
        return None
    now = utcnow()
    with transaction(session):
        used = session.execute(
            update(SignInLink)
            .where(SignInLink.secret_hash == hash_secret(secret), SignInLink.used_at.is_(None),
                   SignInLink.expires_at > now)
            .values(used_at=now)
            .returning(SignInLink.user_id, SignInLink.created_by)
        ).one_or_none()
        if used is None:
            return None
        user = session.get_one(User, used.user_id)
        if not _still_theirs(session, user.role, used.created_by):
            return None
        return _open(session, user, session_hours, replacing, now)


def open_session(session: Session, user_id: int, session_hours: int,
                 replacing: str | None = None) -> OpenedSession:
    """Open a browser session for a user whose identity another way has established
    (an LMS launch); `replacing` as for `use_link`. NotFound for an unknown user."""
    with transaction(session):
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(_("no user {id}").format(id=user_id))
        return _open(session, user, session_hours, replacing, utcnow())


def _open(session: Session, user: User, session_hours: int, replacing: str | None,
          now: datetime) -> OpenedSession:
    if well_formed(replacing):
        _delete_session(session, replacing or "")
    # The user's expired sessions go now rather than linger.
    session.execute(delete(BrowserSession).where(BrowserSession.user_id == user.id,
                                                 BrowserSession.expires_at <= now))
    cookie_secret = new_secret()
    expires_at = now + timedelta(hours=session_hours)
    session.add(BrowserSession(user_id=user.id, secret_hash=hash_secret(cookie_secret),
                               created_at=now, expires_at=expires_at))
    return OpenedSession(Caller.of(user), cookie_secret, expires_at)


_SESSION_OWNER = (
    select(User.id, User.username, User.role, User.language)
    .join(BrowserSession, BrowserSession.user_id == User.id)
    .where(BrowserSession.secret_hash == bindparam("secret_hash"),
           BrowserSession.expires_at > bindparam("now"))
)


def caller_for_session(session: Session, secret: str | None) -> Caller | None:
    """The user a browser session's cookie secret belongs to, None for an unknown or
    expired one (or a malformed cookie)."""
    if not well_formed(secret):
        return None
    row = first_row(session, _SESSION_OWNER, {"secret_hash": hash_secret(secret or ""),
                                              "now": utcnow()})
    return None if row is None else Caller(row.id, row.username, row.role, row.language)


def end_session(session: Session, secret: str | None) -> None:
    """Sign out: delete the browser session (nothing happens for an unknown one)."""
    if not well_formed(secret):
        return
    with transaction(session):
        _delete_session(session, secret or "")


def _delete_session(session: Session, secret: str) -> None:
    session.execute(delete(BrowserSession).where(
        BrowserSession.secret_hash == hash_secret(secret)))


# ---------------------------------------------------------------- CSRF


def csrf_token(cookie_secret: str) -> str:
    """The token a browser's forms carry: an HMAC of a fixed purpose keyed with its
    cookie secret (its session's, or a signed-out browser's own random one)."""
    return hmac.new(cookie_secret.encode(), CSRF_PURPOSE, hashlib.sha256).hexdigest()


def csrf_matches(cookie_secret: str | None, presented: str | None) -> bool:
    """Whether a form or header's token is the one this browser's cookie makes."""
    if not well_formed(cookie_secret) or not presented:
        return False
    return hmac.compare_digest(csrf_token(cookie_secret or ""), presented)
