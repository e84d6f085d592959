"""The Flask application factory: `create_app()`, also what gunicorn loads
(`gunicorn 'grader.app:create_app()'`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import NullSession, SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from grader import api, auth, i18n, problems, rate_limits, sessions, web
from grader.config import load_settings


class NoCookieSessions(SessionInterface):
    """Callers authenticate with bearer tokens on every request; the API keeps no
    cookie session. Flask's default would still build a signing serializer for each
    request to look for one."""

    def open_session(self, app: Flask, request: Request) -> NullSession:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment's settings, or from `test_config` (the
    settings' field names: database_url, secret_key, max_body_bytes, ...)."""
    app = Flask("grader", instance_relative_config=True, static_folder=None)
    settings = load_settings(**(test_config or {}))
    instance_path = Path(app.instance_path)
    if settings.uses_local_database:
        instance_path.mkdir(parents=True, exist_ok=True)
    app.config.update(
        SECRET_KEY=settings.secret_key_for(instance_path),
        TESTING=settings.testing,
        # The limit is enforced where bodies are read (grader.api.operations.read_body),
        # which reads one byte past it to tell "at the limit" from "over" on a chunked
        # body. Werkzeug's own check stays one byte above, as a backstop that answers a
        # larger Content-Length before any handler runs.
        MAX_BODY_BYTES=settings.max_body_bytes,
        MAX_CONTENT_LENGTH=settings.max_body_bytes + 1,
        MAX_EXERCISE_BYTES=settings.max_exercise_bytes,
        RETRY_AFTER_SECONDS=settings.retry_after_seconds,
    )
    app.extensions["grader.settings"] = settings
    app.session_interface = NoCookieSessions()
    app.json.sort_keys = False  # type: ignore[attr-defined]  # a documented attribute of the default JSON provider, not of the base class
    sessions.init_app(app, settings.database_url_for(instance_path), settings)
    auth.init_app(app, settings.token_cache_seconds)
    problems.init_app(app)
    rate_limits.init_app(app, settings)
    if settings.trusted_proxies:
        # The client's address from X-Forwarded-For, as far as the trusted proxies wrote it.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # Flask's documented way to add WSGI middleware
            app.wsgi_app, x_for=settings.trusted_proxies)
    api.init_app(app)
    web.init_app(app)
    app.before_request(_choose_language)
    app.after_request(_say_language)
    app.after_request(_api_security_headers)
    app.teardown_request(_forget_language)
    return app


def _choose_language() -> None:
    # From the Accept-Language header; a signed-in user's stored preference wins once
    # the caller is known (grader.auth).
    i18n.set_language(i18n.negotiate(request.headers.get("Accept-Language")))


def _forget_language(exc: BaseException | None = None) -> None:
    # The thread serves other work after this request (a test runs its next test in it):
    # the request's language must not outlive it.
    i18n.set_language(i18n.DEFAULT_LANGUAGE)


# Every answer that is not a page (the API, the health checks, problems for unknown
# paths and methods) is data: never run, framed or sniffed as a document. Pages set their
# own (grader.web.browser), which these leave as they are.
API_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _api_security_headers(response: Response) -> Response:
    for name, value in API_SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if "Authorization" in request.headers:
        # An answer for one caller: no shared cache keeps it.
        response.headers["Cache-Control"] = "no-store"
    return response


def _say_language(response: Response) -> Response:
    response.headers["Content-Language"] = i18n.tag(i18n.current_language())
    response.vary.add("Accept-Language")
    return response
