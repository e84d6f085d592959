"""Users, their API tokens, and who the caller of a request is.

A token reads `bpg_<public id>_<secret>`: 16 hex digits, then 43 URL-safe base64
characters. A token of any other shape is refused before the database is asked (a NUL
byte in a query parameter would fail there). The public id finds the row; the secret
is stored only as its SHA-256 hash and compared in constant time, so neither the
database nor response timing gives a token away. SHA-256 without salt or stretching
suffices because the secret is 256 random bits, not a password; there are no
passwords in the service.

Every request presents its token, so the owner of a recently seen token is kept in a
small per-process cache (`CallerCache`) for a few seconds: a revoked token, or a role
or language changed, takes effect within that lifetime (GRADER_TOKEN_CACHE_SECONDS) in
every process, and at once in the process that made the change. An entry never
outlives its token's expiry, and the read refuses an expired token itself.

When a token was last used is stamped by the read that finds it, at most once a minute
per token (`LAST_USE_GRANULARITY`): a conditional UPDATE that changes nothing when the
stamp is recent, so a busy token adds no write to every request. The stamp lags the
last use by at most that minute plus the cache's lifetime (uses answered from the
cache are not read).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from grader.db import first_row
from grader.i18n import LANGUAGES
from grader.i18n import gettext as _
from grader.models import ApiToken, Role, User, utcnow
from grader.services.errors import Forbidden, NotFound, ValidationFailed, quoted_name
from grader.services.transactions import transaction

TOKEN_PREFIX = "bpg"
PUBLIC_ID_BYTES = 8
SECRET_BYTES = 32
# token_hex(8) is 16 hex digits; token_urlsafe(32) is 43 characters of [A-Za-z0-9_-].
TOKEN_FORMAT = re.compile(r"bpg_(?P<public_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})")
# The usernames the API takes (grader.api.schemas.Username), and the roster import.
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
USERNAME_MAX = 100

LAST_USE_GRANULARITY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who acts: what every use case needs to know of a user to check access."""

    id: int
    username: str
    role: Role
    language: str | None = None  # the language chosen (grader.i18n's code), None: none

    @classmethod
    def of(cls, user: User) -> Caller:
        return cls(user.id, user.username, user.role, user.language)

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.INSTRUCTOR)


def require_role(caller: Caller, *roles: Role) -> None:
    """Forbidden unless the caller has one of the roles (admins always pass)."""
    if caller.role is not Role.ADMIN and caller.role not in roles:
        raise Forbidden(_("Your role does not allow this."))


def create_user(session: Session, username: str, role: Role,
                language: str | None = None) -> Caller:
    """A new account (Conflict when the username is taken), with the language it reads
    the service in when one is given (a code of grader.i18n: "pt_BR", "en")."""
    check_language(language)
    with transaction(session, conflict=_("user {username} already exists").format(
            username=quoted_name(username))):
        user = User(username=username, role=role, language=language)
        session.add(user)
        session.flush()
        return Caller.of(user)


def set_language(session: Session, actor: Caller, language: str | None) -> Caller:
    """Store the language the actor chose (a code of grader.i18n; None: no choice), and
    return the actor with it. The web layer drops the actor's cached tokens."""
    check_language(language)
    with transaction(session):
        session.execute(update(User).where(User.id == actor.id).values(language=language))
    return replace(actor, language=language)


def check_language(language: str | None) -> None:
    """ValidationFailed unless `language` is None or a supported language's code."""
    if language is not None and language not in LANGUAGES:
        raise ValidationFailed(_("unsupported language"), errors=[{
            "pointer": "/language",
            "detail": _("must be one of: {languages}").format(languages=", ".join(LANGUAGES)),
        }])


def create_token(session: Session, username: str, name: str = "",
                 expires_at: datetime | None = None) -> str:
    """A new API token for a user, returned once in clear (`grader.services.tokens`
    manages them)."""
    with transaction(session):
        return issue_token(session, user_named(session, username), name, expires_at)[1]


def user_named(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(_("no user {username}").format(username=quoted_name(username)))
    return user


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(session: Session, user: User, name: str = "",
                expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Add a new token for a user (flushed: it has its id), and return it with its text;
    this is the only time the text is shown."""
    public_id = secrets.token_hex(PUBLIC_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    row = ApiToken(user_id=user.id, public_id=public_id, secret_hash=hash_secret(secret),
                   name=name, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row, f"{TOKEN_PREFIX}_{public_id}_{secret}"


@dataclass(frozen=True, slots=True)
class _Known:
    secret_hash: str
    caller: Caller
    expires: float  # on the cache's clock


class CallerCache:
    """The owners of recently presented tokens, for at most `seconds` each; at most
    `size` of them (the least recently used go first). `seconds` 0 keeps nothing.

    A lookup that read the database before a user was forgotten must not put its stale
    answer back afterwards: each `forget_user` starts a new generation, and `put` keeps
    only answers read within the current one."""

    def __init__(self, seconds: float, size: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.size = size
        self._clock = clock
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    def generation(self) -> int:
        """Read before the database, passed to `put` after it."""
        return self._generation

    def get(self, public_id: str) -> _Known | None:
        with self._lock:
            known = self._known.get(public_id)
            if known is None:
                return None
            if known.expires <= self._clock():
                del self._known[public_id]
                return None
            self._known.move_to_end(public_id)
            return known

    def put(self, public_id: str, secret_hash: str, caller: Caller, generation: int,
            valid_for: float | None = None) -> None:
        """Keep a token's owner; `valid_for`: the seconds left before the token expires
        (None: it does not), so that the entry never outlives the token."""
        lifetime = self.seconds if valid_for is None else min(self.seconds, valid_for)
        if lifetime <= 0:
            return
        with self._lock:
            if generation != self._generation:
                return  # read before a user was forgotten: possibly stale
            self._known[public_id] = _Known(secret_hash, caller, self._clock() + lifetime)
            self._known.move_to_end(public_id)
            while len(self._known) > self.size:
                self._known.popitem(last=False)

    def forget_user(self, user_id: int) -> None:
        """Drop every token of a user (after a revocation, or a change of role or
        language)."""
        with self._lock:
            self._generation += 1
            for public_id in [k for k, v in self._known.items() if v.caller.id == user_id]:
                del self._known[public_id]

    def forget_token(self, public_id: str) -> None:
        """Drop one token (after it was revoked)."""
        with self._lock:
            self._generation += 1
            self._known.pop(public_id, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._known.clear()


_OWNER = (
    select(User.id, User.username, User.role, User.language, ApiToken.secret_hash,
           ApiToken.id.label("token_id"), ApiToken.expires_at, ApiToken.last_used_at)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.public_id == bindparam("public_id"), ApiToken.revoked_at.is_(None),
           or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > bindparam("now")))
)
# Changes nothing when another request (or process) stamped the token meanwhile.
_STAMP_USE = (
    update(ApiToken)
    .where(ApiToken.id == bindparam("token_id"),
           or_(ApiToken.last_used_at.is_(None),
               ApiToken.last_used_at < bindparam("stale_before")))
    .values(last_used_at=bindparam("used_at"))
)


def caller_for_token(session: Session, token: str, cache: CallerCache | None = None,
                     ) -> Caller | None:
    """The active user a token belongs to, or None for any unknown, revoked or expired
    token. Stamps the token's last use when its stamp is a minute old."""
    match = TOKEN_FORMAT.fullmatch(token)
    if match is None:
        return None
    public_id, secret = match["public_id"], match["secret"]
    presented = hash_secret(secret)
    known = cache.get(public_id) if cache is not None else None
    if known is not None:
        return known.caller if hmac.compare_digest(presented, known.secret_hash) else None
    generation = cache.generation() if cache is not None else 0
    now = utcnow()
    row = first_row(session, _OWNER, {"public_id": public_id, "now": now})
    # Compare even when the id is unknown, so a miss costs as long as a wrong secret.
    stored = row.secret_hash if row is not None else hash_secret(secrets.token_urlsafe(8))
    if not hmac.compare_digest(presented, stored) or row is None:
        return None
    caller = Caller(row.id, row.username, row.role, row.language)
    if row.last_used_at is None or row.last_used_at < now - LAST_USE_GRANULARITY:
        stamp_use(session, row.token_id, now)
    if cache is not None:
        valid_for = None if row.expires_at is None else (row.expires_at - now).total_seconds()
        cache.put(public_id, row.secret_hash, caller, generation, valid_for)
    return caller


def stamp_use(session: Session, token_id: int, now: datetime) -> None:
    """Record that a token was used now, unless it was within the last minute. Its own
    transaction, committed at once: the request's work may fail or only read."""
    with transaction(session):
        session.connection().execute(_STAMP_USE, {
            "token_id": token_id, "used_at": now, "stale_before": now - LAST_USE_GRANULARITY})
