"""Rate limits on submissions and on sign-in links, per signed-in user and per client
address, with Flask-Limiter.

Two kinds, each with a limit per user (when someone is signed in) and one per address
(always), shared by the API and the pages:

    submit     POST /api/v1/exercises/ID/attempts, /api/v1/assignments/ID/attempts and
               the pages' submit forms
    sign-in    opening and using a sign-in link (/sign-in/...), and creating links (the
               API's and the instructor page's; the CLI is not limited)

A use site calls `check(SUBMIT)` once the caller is known: a breached limit raises
Flask-Limiter's RateLimitExceeded (429), answered as problem+json by the API
(`init_app`) and as a page by the pages (grader.web), both with Retry-After.

The counters live in Redis when REDIS_URL is set, so that every worker and replica
counts together, else in each worker's memory. A moving window: no burst of twice the
limit across a window's edge. If Redis stops answering, each worker counts in memory
until it answers again: a submission at a deadline is never refused because the
counters are unreachable.

The client address is the connection's, or X-Forwarded-For's when
GRADER_TRUSTED_PROXIES says how many proxies in front append to it (werkzeug's
ProxyFix, set up in grader.app).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded

from grader.config import Settings
from grader.i18n import gettext as _
from grader.problems import TYPE_PREFIX, problem_response

SUBMIT = "submit"
SIGN_IN = "sign-in"
EXTENSION = "grader.rate_limits"
REDIS_TIMEOUT_SECONDS = 2


def submission() -> None:
    """Stands for one submission: the submit limits are attached to it (a use site
    calls it through `check`)."""


def sign_in_request() -> None:
    """Stands for one use of a sign-in link, or one request for new links."""


@dataclass(frozen=True)
class RateLimits:
    """An app's limiter, and for each kind the function that counts one request."""

    limiter: Limiter
    checks: Mapping[str, Callable[[], None]]


def client_address() -> str:
    """The client's address (X-Forwarded-For's only behind trusted proxies)."""
    return request.remote_addr or "unknown"


def signed_in_user() -> str:
    caller = g.get("caller")
    return f"user:{caller.id}" if caller is not None else ""


def _nobody_signed_in() -> bool:
    return g.get("caller") is None


def _setting(name: str) -> Callable[[], str]:
    def rate() -> str:
        settings: Settings = current_app.extensions["grader.settings"]
        value: str = getattr(settings, name)
        return value
    return rate


def init_app(app: Flask, settings: Settings) -> None:
    storage = settings.redis_url or "memory://"
    options: dict[str, str | int] = {}
    if settings.redis_url:
        options = {"socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
                   "socket_timeout": REDIS_TIMEOUT_SECONDS}
    limiter = Limiter(client_address, app=app, storage_uri=storage, storage_options=options,
                      strategy="moving-window", key_prefix=settings.rate_limit_prefix,
                      in_memory_fallback_enabled=True, swallow_errors=True)
    messages = {
        (SUBMIT, "user"): lambda: _("Too many submissions from your account."),
        (SUBMIT, "ip"): lambda: _("Too many submissions from your network address."),
        (SIGN_IN, "user"): lambda: _("Too many sign-in links requested from your account."),
        (SIGN_IN, "ip"): lambda: _("Too many sign-in requests from your network address."),
    }

    def limited(kind: str, counted: Callable[[], None], prefix: str) -> Callable[[], None]:
        per_user = limiter.shared_limit(
            _setting(f"rate_limit_{prefix}_user"), kind, key_func=signed_in_user,
            exempt_when=_nobody_signed_in, error_message=messages[kind, "user"])
        per_address = limiter.shared_limit(
            _setting(f"rate_limit_{prefix}_ip"), kind, key_func=client_address,
            error_message=messages[kind, "ip"])
        return per_address(per_user(counted))

    app.extensions[EXTENSION] = RateLimits(limiter, {
        SUBMIT: limited(SUBMIT, submission, "submit"),
        SIGN_IN: limited(SIGN_IN, sign_in_request, "sign_in"),
    })
    app.register_error_handler(RateLimitExceeded, too_many_requests)


def check(kind: str) -> None:
    """Count one request of this kind (SUBMIT or SIGN_IN) for the current caller and
    address; RateLimitExceeded when a limit is reached."""
    limits: RateLimits = current_app.extensions[EXTENSION]
    limits.checks[kind]()


def refusal(exc: RateLimitExceeded) -> tuple[str, dict[str, str]]:
    """The detail of a 429 in the reader's language, and its Retry-After header."""
    limits: RateLimits = current_app.extensions[EXTENSION]
    breached = limits.limiter.current_limit
    reset_at = breached.window.reset_time if breached is not None else time.time()
    retry = max(1, math.ceil(reset_at - time.time()))
    rate = exc.limit.limit
    detail = " ".join([str(exc.description), _(
        "At most {count} in {seconds} s: try again in {retry} s.").format(
            count=rate.amount, seconds=rate.get_expiry(), retry=retry)])
    return detail, {"Retry-After": str(retry)}


def too_many_requests(exc: RateLimitExceeded) -> Response:
    detail, headers = refusal(exc)
    return problem_response(429, detail, type_=TYPE_PREFIX + "rate-limited", headers=headers)
