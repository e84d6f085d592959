"""Bearer tokens for students, instructors, scripts and LMS servers.

A token reads `bpg_<public id>_<secret>`: 16 hex digits, then 43 URL-safe base64
characters. A token of any other shape is refused before the database is asked (a NUL
byte in a query parameter would fail there). The public id finds the row; the secret
is stored only as its SHA-256 hash and compared in constant time, so neither the
database nor response timing gives a token away. SHA-256 without salt or stretching
suffices because the secret is 256 random bits, not a password; there are no
passwords in the service.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Hashable, Mapping
from typing import Any

from flask import g, request
from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session, make_transient_to_detached

from grader.db import execute_first
from grader.models import ApiToken, Role, User
from grader.precompiled import Precompiled
from grader.problems import Forbidden, Unauthorized

TOKEN_PREFIX = "bpg"
PUBLIC_ID_BYTES = 8
SECRET_BYTES = 32
# token_hex(8) is 16 hex digits; token_urlsafe(32) is 43 characters of [A-Za-z0-9_-].
TOKEN_FORMAT = re.compile(r"bpg_(?P<public_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(session: Session, user: User, label: str = "") -> str:
    """Store a new token for a user and return it; this is the only time it is shown."""
    public_id = secrets.token_hex(PUBLIC_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    session.add(ApiToken(user=user, public_id=public_id, secret_hash=hash_secret(secret),
                         label=label))
    return f"{TOKEN_PREFIX}_{public_id}_{secret}"


# What an operation reads first besides the token's owner, in the same statement: a
# statement extending `TOKEN_OWNER` (outer joins only, so the owner's row is found
# whatever else is missing), its other parameters, and the key under which the row is
# left in `session.info` for the use case (`preloaded`). The token is checked as ever,
# on every request: only the round trip is shared.
Preload = tuple[Precompiled, Mapping[str, Any], Hashable]
PRELOADED = "grader.preloaded"


def user_for_token(session: Session, token: str, preload: Preload | None = None) -> User | None:
    """The active user a token belongs to, or None for any unknown or revoked token."""
    match = TOKEN_FORMAT.fullmatch(token)
    if match is None:
        return None
    public_id, secret = match["public_id"], match["secret"]
    # The request's first statement: a pooled connection found dead is replaced.
    if preload is None:
        row = execute_first(session, _TOKEN_OWNER, {"public_id": public_id})
    else:
        statement, parameters, key = preload
        row = execute_first(session, statement, {**parameters, "public_id": public_id})
    # Hash even when the id is unknown, so a miss costs as long as a wrong secret.
    presented = hash_secret(secret)
    stored = row.secret_hash if row is not None else hash_secret(secrets.token_urlsafe(8))
    if not hmac.compare_digest(presented, stored) or row is None:
        return None
    # The user from the row's columns, detached: every request runs this, and loading
    # the ORM object costs more than the query. Its attributes are those selected; it
    # is never changed through, and `session.add()` would treat it as the stored row.
    user = _new_user()
    # Set as loaded values, not as changes: nothing to track on an object never flushed.
    user.__dict__.update(id=row.id, username=row.username, role=row.role)
    make_transient_to_detached(user)
    if preload is not None:
        session.info[PRELOADED] = (key, row)
    return user


# An instance with its ORM state and no attributes set (what loading a row starts from).
_new_user = User.__mapper__.class_manager.new_instance


def preloaded(session: Session, key: Hashable, user: User) -> Row[Any] | None:
    """The row an operation's authentication read under `key` for `user`, once."""
    found = session.info.pop(PRELOADED, None)
    if found is None or found[0] != key or found[1].id != user.id:
        return None
    return found[1]


# Built once: every authenticated request runs it (operations extend it, `Preload`).
TOKEN_OWNER = (
    select(User.id, User.username, User.role, ApiToken.secret_hash)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.public_id == bindparam("public_id"), ApiToken.revoked_at.is_(None))
)
_TOKEN_OWNER = Precompiled(TOKEN_OWNER)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(session: Session, preload: Preload | None = None) -> User:
    """The caller of the current request (401 without a valid bearer token)."""
    token = bearer_token()
    if token is None:
        raise Unauthorized("Send an API token: Authorization: Bearer <token>.")
    user = user_for_token(session, token, preload)
    if user is None:
        raise Unauthorized("The API token is unknown or revoked.")
    g.user = user
    return user


def require_role(user: User, *roles: Role) -> None:
    """403 unless the user has one of the roles (admins always pass)."""
    if user.role is not Role.ADMIN and user.role not in roles:
        raise Forbidden("Your role does not allow this.")


def is_staff(user: User) -> bool:
    return user.role in (Role.ADMIN, Role.INSTRUCTOR)
