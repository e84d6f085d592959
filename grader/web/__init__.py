"""The pages people read and fill in, served by the same app as the JSON API: the home
page, signing in with a link, and the exercise and assignment pages that draw the graph
with a box for each blank.

Server-rendered Jinja templates (`templates/`), with the same message catalogs as the
rest of the service; a small script and a style sheet (`static/`), served by the app
itself. Views are thin: they call the use cases of `grader.services` and render.

    views             home, sign-in links, sign-out, the language switch
    exercise_views    practice and assignment pages, submitting, earlier attempts
    solution_views    a student's worked solution, once the assignment shows it
    instructor        the instructor pages (/instructor): library, courses, analytics
    browser           the session cookie, CSRF tokens, the language, security headers
    graph_page        what an exercise page shows; blanks: its boxes; numbers: typed
                      numbers read and shown; formats: scores and times; layout: where
                      the graph's nodes and boxes go
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, g, render_template, request
from flask_limiter import RateLimitExceeded
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from grader import i18n, rate_limits
from grader.db import is_connection_error
from grader.i18n import gettext as _
from grader.lti import views as lti_views
from grader.problems import http_problem, service_error_status, status_title
from grader.services.errors import AssignmentClosed, ServiceError
from grader.web import browser, exercise_views, formats, instructor, solution_views, views
from grader.web.browser import NotSignedIn

logger = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    browser.init_app(app)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
        i18n.gettext, i18n.ngettext, newstyle=True)
    app.jinja_env.filters.update(exercise_title=formats.exercise_title,
                                 time_text=i18n.time_text, iso_time=formats.iso_time,
                                 score_text=formats.score_text,
                                 description_html=formats.description_html)
    # A new parent per app, as for the API: a blueprint cannot change once registered.
    web = Blueprint("web", __name__, static_folder="static", static_url_path="/static",
                    template_folder="templates")
    web.register_blueprint(views.bp)
    web.register_blueprint(exercise_views.bp)
    web.register_blueprint(solution_views.bp)
    web.register_blueprint(instructor.blueprint())
    lti_views.init_app(app, web)
    web.before_request(_load_visitor)
    web.after_request(browser.finish_response)
    # App-wide: the pages of URLs no route matches (below) need them too.
    app.context_processor(_template_globals)
    web.register_error_handler(NotSignedIn, _not_signed_in)
    web.register_error_handler(ServiceError, _service_error)
    web.register_error_handler(RateLimitExceeded, _too_many_requests)
    web.register_error_handler(HTTPException, _http_error)
    web.register_error_handler(DBAPIError, _database_error)
    web.register_error_handler(PoolTimeoutError, _database_error)
    web.register_error_handler(Exception, _unexpected)
    app.register_blueprint(web)
    # A URL that no route matches belongs to no blueprint: a person who typed it gets a
    # page, a program (the API's paths, or asking for JSON) a problem+json body.
    app.register_error_handler(NotFound, _unrouted)
    app.register_error_handler(MethodNotAllowed, _unrouted)


def _load_visitor() -> None:
    if request.endpoint != "web.static":  # the style sheet and script need no one
        browser.load_visitor()


def _template_globals() -> dict[str, object]:
    return {
        "visitor": g.get("visitor"),
        "lang_tag": i18n.tag(i18n.current_language()),
        "language_choices": views.language_choices(),
        "csrf_field": browser.CSRF_FIELD,
    }


def error_page(status: int, detail: str | None, *, headers: dict[str, str] | None = None,
               title: str | None = None) -> Response:
    body = render_template("error.html", status=status, title=title or status_title(status),
                           detail=detail)
    return Response(body, status=status, headers=headers, mimetype="text/html")


def _not_signed_in(exc: NotSignedIn) -> Response:
    # A 401 names a scheme: the pages' is the sign-in link's session, the API's the token.
    return Response(render_template("signed_out.html", needed=True), status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="grader"'}, mimetype="text/html")


def _service_error(exc: ServiceError) -> Response:
    # A refusal a student meets in the normal course of things is titled as what it is,
    # not as a bare "Forbidden".
    title = _("This assignment is not open") if isinstance(exc, AssignmentClosed) else None
    return error_page(service_error_status(exc), exc.detail, headers=exc.headers, title=title)


def _too_many_requests(exc: RateLimitExceeded) -> Response:
    detail, headers = rate_limits.refusal(exc)
    return error_page(429, detail, headers=headers)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return error_page(status, None, headers=headers)


def _unrouted(exc: HTTPException) -> Response:
    wants_page = request.accept_mimetypes.best_match(
        ["text/html", "application/json", "application/problem+json"]) == "text/html"
    if request.blueprint is None and wants_page and not request.path.startswith("/api/"):
        try:
            browser.load_visitor()
        except (DBAPIError, PoolTimeoutError):  # the page still says what was not found
            browser.load_anonymous_visitor()
        return browser.finish_response(_http_error(exc))
    return http_problem(exc)


def _database_error(exc: Exception) -> Response:
    if isinstance(exc, PoolTimeoutError) or is_connection_error(exc):
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        retry = str(browser.settings().retry_after_seconds)
        return error_page(503, _("The database is unreachable; retry later."),
                          headers={"Retry-After": retry})
    return _unexpected(exc)


def _unexpected(exc: Exception) -> Response:
    logger.error("unhandled exception", exc_info=exc)
    return error_page(500, _("An unexpected error occurred; it has been logged."))
