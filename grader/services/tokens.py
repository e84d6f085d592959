"""API tokens as their owners and the admins manage them: made with a name and an
optional expiry, listed (never with their secret: only its hash is stored), revoked.

A token is refused from the moment it expires or is revoked (the read that resolves a
token checks both: `grader.services.accounts`). Revoking through `revoke_token` also
drops the token from the given cache of token owners, so the process that revoked it
refuses it at once; other processes refuse it within their cache's lifetime.

The command line acts for the operator (`by=None`: any user's tokens); through the
API a user manages their own tokens, and an admin anyone's. A token that the caller
may not manage is reported as not found, so that token ids reveal nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.i18n import gettext as _
from grader.models import ApiToken, Role, utcnow
from grader.services.accounts import (
    TOKEN_FORMAT,
    TOKEN_PREFIX,
    Caller,
    CallerCache,
    issue_token,
    user_named,
)
from grader.services.errors import Forbidden, NotFound, ValidationFailed
from grader.services.transactions import transaction


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as it is listed: everything but its secret."""

    id: int
    user: str
    name: str
    prefix: str  # "bpg_<public id>": tells tokens apart, authenticates nothing
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenInfo:
        return cls(token.id, token.user.username, token.name,
                   f"{TOKEN_PREFIX}_{token.public_id}", token.created_at, token.expires_at,
                   token.last_used_at, token.revoked_at)

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True, slots=True)
class NewToken:
    info: TokenInfo
    token: str  # the token itself, shown only this once


def expiry_in(days: int) -> datetime:
    """The expiry of a token valid for `days` days from now."""
    return utcnow() + timedelta(days=days)


def create_token(session: Session, username: str, name: str = "",
                 expires_at: datetime | None = None, *, by: Caller | None = None) -> NewToken:
    """A new token for `username`, named, valid until `expires_at` (None: until
    revoked). `by` None is the operator; a caller may make tokens for themselves only
    (admins: anyone). ValidationFailed when the expiry has already passed."""
    if by is not None and by.username != username and by.role is not Role.ADMIN:
        raise Forbidden(_("You may only make tokens for yourself."))
    check_expiry(expires_at)
    with transaction(session):
        row, text = issue_token(session, user_named(session, username), name, expires_at)
        return NewToken(TokenInfo.of(row), text)


def presented_expiry(session: Session, token: str) -> datetime | None:
    """When the token the caller presented expires (None: never, or not a token)."""
    found = TOKEN_FORMAT.fullmatch(token)
    if found is None:
        return None
    expires: datetime | None = session.execute(
        select(ApiToken.expires_at).where(ApiToken.public_id == found["public_id"])
    ).scalar_one_or_none()
    return expires


def within(expires_at: datetime | None, limit: datetime | None) -> datetime | None:
    """An expiry no later than `limit` (None: never)."""
    if limit is None:
        return expires_at
    return limit if expires_at is None else min(expires_at, limit)


def check_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed(_("the expiry has already passed"), errors=[{
            "pointer": "/expires_at", "detail": _("must be in the future")}])


def list_tokens(session: Session, username: str, *, by: Caller | None = None,
                ) -> list[TokenInfo]:
    """Every token of a user, revoked and expired ones included, oldest first. `by`
    None is the operator; a caller may list their own (admins: anyone's, Forbidden for
    others)."""
    if by is not None and by.username != username and by.role is not Role.ADMIN:
        raise Forbidden(_("Only admins may list another user's tokens."))
    with transaction(session):
        user = user_named(session, username)
        rows = session.execute(
            select(ApiToken).where(ApiToken.user_id == user.id)
            .order_by(ApiToken.created_at, ApiToken.id)
        ).scalars()
        return [TokenInfo.of(row) for row in rows]


def revoke_token(session: Session, token_id: int, *, by: Caller | None = None,
                 cache: CallerCache | None = None) -> TokenInfo:
    """Revoke a token (one already revoked keeps its first revocation time) and drop it
    from `cache`. `by` None is the operator; a caller may revoke their own tokens
    (admins: anyone's); any other token is NotFound."""
    with transaction(session):
        row = session.get(ApiToken, token_id)
        if row is None or (by is not None and row.user_id != by.id
                           and by.role is not Role.ADMIN):
            raise NotFound(_("no token {id}").format(id=token_id))
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        info = TokenInfo.of(row)
        public_id = row.public_id
    if cache is not None:
        cache.forget_token(public_id)
    return info
