"""The browser's side of the pages: who is signed in (the session cookie), the
language to answer in, CSRF tokens, and the headers every page is sent with.

Cookies, all HttpOnly and SameSite=Lax (Secure when GRADER_BASE_URL is https), but
for those an LMS launch sets: the page then lives in the LMS's frame, another site,
where a Lax cookie is never sent; they are SameSite=None (and Secure) when the base URL
is https. (Browsers refuse SameSite=None without Secure, so on plain http, which is
for local tests only, they stay Lax.) CSRF tokens still guard every form.

    grader_session    the secret of a browser session (grader.services.sign_in)
    grader_browser    a signed-out browser's own random secret: what its forms' CSRF
                      tokens are made from until it signs in
    grader_language   the language a signed-out visitor chose

The language is the signed-in user's stored choice, else the language cookie, else
Accept-Language. A form proves it came from our own page with a token made from the
browser's cookie secret: the hidden field `csrf_token`, or the `X-CSRF-Token` header
for the page's script.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request

from grader import i18n
from grader.config import Settings
from grader.models import utcnow
from grader.services import sign_in
from grader.services.accounts import Caller
from grader.services.errors import Forbidden
from grader.sessions import get_session

SESSION_COOKIE = "grader_session"
BROWSER_COOKIE = "grader_browser"
LANGUAGE_COOKIE = "grader_language"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
LANGUAGE_COOKIE_DAYS = 365
BROWSER_COOKIE_DAYS = 30


class CsrfRefused(Forbidden):
    """A form without the token of the browser that sent it: from another site, or a
    page kept open across a sign-in or sign-out."""

    code = "csrf-refused"


class NotSignedIn(Exception):
    """A page that needs a signed-in user, asked for without one."""


@dataclass
class Visitor:
    """Who is at the browser, for the current request."""

    caller: Caller | None
    cookie_secret: str  # what its CSRF tokens are made from
    nonce: str  # the Content-Security-Policy nonce of the page's <style> element
    # Cookies to set or drop when the response goes out.
    set_cookies: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    drop_cookies: set[str] = field(default_factory=set)
    # Cookies set for a page inside an LMS's frame: SameSite=None over https.
    cross_site: set[str] = field(default_factory=set)
    # Another site a form of the page posts to (an LMS's deep linking return address).
    form_target: str | None = None

    @property
    def csrf_token(self) -> str:
        return sign_in.csrf_token(self.cookie_secret)


def settings() -> Settings:
    found: Settings = current_app.extensions["grader.settings"]
    return found


def visitor() -> Visitor:
    """The current request's visitor (loaded before every page)."""
    if "visitor" not in g:
        load_visitor()
    found: Visitor = g.visitor
    return found


def load_visitor() -> None:
    """Find who is signed in, choose the language, and make sure the browser has a
    secret to make CSRF tokens from."""
    session_secret = request.cookies.get(SESSION_COOKIE)
    caller = sign_in.caller_for_session(get_session(), session_secret) if (
        session_secret) else None
    found = Visitor(caller, "", secrets.token_urlsafe(16))
    if caller is not None and session_secret is not None:
        found.cookie_secret = session_secret
    else:
        if session_secret is not None:
            found.drop_cookies.add(SESSION_COOKIE)  # expired or signed out elsewhere
        browser_secret = request.cookies.get(BROWSER_COOKIE)
        if not sign_in.well_formed(browser_secret):
            browser_secret = sign_in.new_secret()
            found.set_cookies[BROWSER_COOKIE] = (browser_secret, _in_days(BROWSER_COOKIE_DAYS))
        found.cookie_secret = browser_secret or ""
    g.visitor = found
    if caller is not None:
        g.caller = caller
    preferred = caller.language if caller is not None and caller.language else (
        request.cookies.get(LANGUAGE_COOKIE))
    i18n.set_language(i18n.negotiate(request.headers.get("Accept-Language"), preferred))


def load_anonymous_visitor() -> None:
    """A visitor without a session lookup: for a page answered when the database is
    not (its language from the cookie or the request)."""
    g.visitor = Visitor(None, "", secrets.token_urlsafe(16))
    i18n.set_language(i18n.negotiate(request.headers.get("Accept-Language"),
                                     request.cookies.get(LANGUAGE_COOKIE)))


def signed_in() -> Caller:
    """The signed-in user (NotSignedIn without one)."""
    caller = visitor().caller
    if caller is None:
        raise NotSignedIn()
    return caller


def check_csrf() -> None:
    """CsrfRefused unless the form field or header holds this browser's token."""
    presented = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not sign_in.csrf_matches(visitor().cookie_secret, presented):
        raise CsrfRefused(
            i18n.gettext("This form has expired or was not sent from this site. Reload "
                         "the page and try again."))


def start_session(opened: sign_in.OpenedSession, *, cross_site: bool = False) -> None:
    """Put a new browser session's secret in the cookie when the response goes out
    (`cross_site`: a session opened by an LMS launch, used inside the LMS's frame)."""
    found = visitor()
    found.set_cookies[SESSION_COOKIE] = (opened.secret, opened.expires_at)
    if cross_site:
        found.cross_site.add(SESSION_COOKIE)
    else:
        found.cross_site.discard(SESSION_COOKIE)
    found.drop_cookies.discard(SESSION_COOKIE)
    found.caller = opened.caller
    found.cookie_secret = opened.secret


def end_session() -> None:
    found = visitor()
    found.drop_cookies.add(SESSION_COOKIE)
    found.set_cookies.pop(SESSION_COOKIE, None)
    found.caller = None


def set_cross_site_cookie(name: str, value: str, expires: datetime) -> None:
    """A cookie that must come back on a cross-site POST (an LMS launch's state)."""
    found = visitor()
    found.set_cookies[name] = (value, expires)
    found.cross_site.add(name)


def same_site(name: str, found: Visitor, secure: bool) -> str:
    """The SameSite attribute of a cookie: None for a cross-site one over https."""
    return "None" if secure and name in found.cross_site else "Lax"


def remember_language(language: str) -> None:
    visitor().set_cookies[LANGUAGE_COOKIE] = (i18n.tag(language), _in_days(LANGUAGE_COOKIE_DAYS))


def _in_days(days: int) -> datetime:
    return utcnow() + timedelta(days=days)


def local_target(target: str | None, fallback: str = "/") -> str:
    """`target` when it is a path on this site, else `fallback`: a redirect never
    leaves the site ("//host" and "/\\host" are other sites to a browser)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


# A host (and port) as it may stand in a CSP source list: nothing that ends the source.
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?")


def content_security_policy(nonce: str | None, form_target: str | None = None) -> str:
    styles = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    forms = "'self'"
    parts = urlsplit(form_target or "")
    if parts.scheme in ("http", "https") and _HOST.fullmatch(parts.netloc):
        forms += f" {parts.scheme}://{parts.netloc}"
    return ("default-src 'none'; script-src 'self'; "
            f"style-src {styles}; img-src 'self' data:; connect-src 'self'; "
            f"form-action {forms}; base-uri 'none'; "
            f"frame-ancestors {settings().frame_ancestors}")


def finish_response(response: Response) -> Response:
    """Cookies, and the security headers of every page and asset."""
    found: Visitor | None = g.get("visitor")
    secure = settings().secure_cookies
    if found is not None:
        for name in found.drop_cookies:
            response.delete_cookie(name, path="/", secure=secure, httponly=True,
                                   samesite="Lax")
        for name, (value, expires) in found.set_cookies.items():
            response.set_cookie(name, value, expires=expires, path="/", secure=secure,
                                httponly=True, samesite=same_site(name, found, secure))
        # Personal pages: never kept by a shared cache or the back button's cache.
        response.headers["Cache-Control"] = "no-store"
        response.vary.add("Cookie")
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(
        found.nonce if found is not None else None,
        found.form_target if found is not None else None)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    return response


def init_app(app: Flask) -> None:
    # A form of a large graph has a field per blank: Werkzeug's default of 1,000 parts
    # would refuse a form of 350 gates (the body limit still bounds it).
    app.config["MAX_FORM_PARTS"] = 100_000
