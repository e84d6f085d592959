"""The home page, signing in with a link and out, and choosing the language."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from grader import i18n, rate_limits
from grader.auth import caller_cache
from grader.services import accounts, home, sign_in
from grader.sessions import get_session
from grader.web import browser
from grader.web.browser import check_csrf, visitor

bp = Blueprint("pages", __name__)

LINK = sign_in.LINK_PATH + "<string(length=43):secret>"


@bp.get("/")
def home_page() -> ResponseReturnValue:
    caller = visitor().caller
    if caller is None:
        return render_template("signed_out.html")
    return render_template("home.html", home=home.home_of(
        get_session(), caller, i18n.tag(i18n.current_language())))


def _invalid_link() -> Response:
    return Response(render_template("invalid_link.html"), status=404, mimetype="text/html")


@bp.get(LINK)
def sign_in_page(secret: str) -> ResponseReturnValue:
    """The link's page asks before it signs in: a link preview or a scanner that
    fetches the link does not use it up."""
    rate_limits.check(rate_limits.SIGN_IN)
    owner = sign_in.link_owner(get_session(), secret)
    if owner is None:
        return _invalid_link()
    return render_template("sign_in.html", owner=owner, secret=secret)


@bp.post(LINK)
def use_sign_in_link(secret: str) -> ResponseReturnValue:
    check_csrf()
    rate_limits.check(rate_limits.SIGN_IN)
    current = request.cookies.get(browser.SESSION_COOKIE)
    opened = sign_in.use_link(get_session(), secret, browser.settings().session_hours,
                              replacing=current)
    if opened is None:
        return _invalid_link()
    browser.start_session(opened)
    return redirect(url_for("web.pages.home_page"), 303)


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    check_csrf()
    sign_in.end_session(get_session(), request.cookies.get(browser.SESSION_COOKIE))
    browser.end_session()
    return redirect(url_for("web.pages.home_page"), 303)


@bp.post("/language")
def choose_language() -> ResponseReturnValue:
    """Store the language a signed-in user chooses, or keep a signed-out visitor's in a
    cookie; then back to the page the form was on."""
    check_csrf()
    language = i18n.supported(request.form.get("language"))
    back = browser.local_target(request.form.get("next"), url_for("web.pages.home_page"))
    if language is None:
        return redirect(back, 303)
    caller = visitor().caller
    if caller is not None:
        accounts.set_language(get_session(), caller, language)
        caller_cache().forget_user(caller.id)  # this worker's cached callers are stale
    browser.remember_language(language)
    return redirect(back, 303)


def language_choices() -> list[tuple[str, str, str]]:
    """(tag, name in its own language, lang attribute) of each language offered."""
    return [("pt-BR", "Português (Brasil)", "pt-BR"), ("en", "English", "en")]
