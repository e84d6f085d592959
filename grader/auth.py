"""Who calls: the bearer token of the current request, resolved to a `Caller`.

The token format, its storage and the lookup (with the short-lived per-process cache
of recently seen tokens) are `grader.services.accounts`; this module reads the header
and answers 401 without a valid token.
"""

from __future__ import annotations

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from grader import i18n
from grader.i18n import gettext as _
from grader.problems import Unauthorized
from grader.services.accounts import Caller, CallerCache, caller_for_token

CALLER_CACHE = "grader.caller_cache"


def init_app(app: Flask, seconds: float) -> None:
    """Give the app its cache of recently seen tokens (`seconds` 0: none)."""
    app.extensions[CALLER_CACHE] = CallerCache(seconds)


def caller_cache() -> CallerCache:
    cache: CallerCache = current_app.extensions[CALLER_CACHE]
    return cache


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _space, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(session: Session) -> Caller:
    """The caller of the current request (401 without a valid bearer token)."""
    token = bearer_token()
    if token is None:
        raise Unauthorized(_("Send an API token: Authorization: Bearer <token>."))
    caller = caller_for_token(session, token, caller_cache())
    if caller is None:
        raise Unauthorized(_("The API token is unknown, revoked or expired."))
    if caller.language is not None:
        i18n.set_language(caller.language)  # a stored preference wins over the header
    g.caller = caller  # whom the per-user rate limits count (grader.rate_limits)
    return caller
