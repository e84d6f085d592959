"""Errors as RFC 9457 problem details (`application/problem+json`).

Every error response of the service goes through here: HTTP errors raised by Flask,
the errors raised by use cases (`grader.services.errors`, given their status here by
class), the web layer's own problems (a body that is not JSON, a missing token), body
and query validation, the database being unreachable (503 with Retry-After), and any
unexpected exception (500 without a traceback).

A problem with several causes lists them in `errors`, each with a `detail` and where
it is: `pointer` (a JSON Pointer into the body), `parameter` (a query parameter),
`header`, or `line`/`node`/`field` for an exercise's YAML. At most `MAX_FIELD_ERRORS`
are listed; `errors_omitted` counts the rest (a 1 MB body of unknown ids must not get
a 9 MB answer).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from flask import Flask, Response, current_app, json
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from grader.db import is_connection_error
from grader.i18n import gettext as _
from grader.i18n import mark
from grader.services.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    ServiceError,
    ValidationFailed,
    json_pointer,
)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:backprop-grader:problem:"
MAX_FIELD_ERRORS = 100

logger = logging.getLogger(__name__)

# The title of each status the service answers with, in the reader's language (RFC 9457
# lets a title be localized; the type URI stays the same).
STATUS_TITLES = {
    400: mark("Bad Request"),
    401: mark("Unauthorized"),
    403: mark("Forbidden"),
    404: mark("Not Found"),
    405: mark("Method Not Allowed"),
    406: mark("Not Acceptable"),
    408: mark("Request Timeout"),
    409: mark("Conflict"),
    413: mark("Content Too Large"),
    414: mark("URI Too Long"),
    415: mark("Unsupported Media Type"),
    422: mark("Unprocessable Content"),
    429: mark("Too Many Requests"),
    431: mark("Request Header Fields Too Large"),
    500: mark("Internal Server Error"),
    # Answered by the proxy in front (deploy/nginx/problems), in the same words.
    501: mark("Not Implemented"),
    502: mark("Bad Gateway"),
    503: mark("Service Unavailable"),
    504: mark("Gateway Timeout"),
}

# pydantic's error types that a person meets in a query or body, in their language.
PYDANTIC_MESSAGES = {
    "missing": mark("Field required"),
    "extra_forbidden": mark("Extra inputs are not permitted"),
    "string_type": mark("Input should be a valid string"),
    "int_type": mark("Input should be a valid integer"),
    "int_parsing": mark("Input should be a valid integer"),
    "bool_type": mark("Input should be a valid boolean"),
    "bool_parsing": mark("Input should be a valid boolean"),
    "float_type": mark("Input should be a valid number"),
    "float_parsing": mark("Input should be a valid number"),
    "model_type": mark("Input should be an object"),
    "dict_type": mark("Input should be an object"),
    "list_type": mark("Input should be a list"),
    "string_too_long": mark("Input is too long"),
    "string_too_short": mark("Input is too short"),
    "string_pattern_mismatch": mark("Input has characters that are not allowed"),
    "greater_than_equal": mark("Input is too small"),
    "greater_than": mark("Input is too small"),
    "less_than_equal": mark("Input is too large"),
    "less_than": mark("Input is too large"),
    "literal_error": mark("Input is not one of the allowed values"),
    "enum": mark("Input is not one of the allowed values"),
    "datetime_parsing": mark("Input should be a date and time (ISO 8601)"),
    "datetime_type": mark("Input should be a date and time (ISO 8601)"),
    "timezone_aware": mark("Input should have a time zone"),
}


def status_title(status: int) -> str:
    title = STATUS_TITLES.get(status)
    return _(title) if title is not None else HTTP_STATUS_CODES.get(status, "Error")

# The status of each kind of use-case error (the kinds are disjoint; a subclass, such
# as NoAttemptsLeft, answers as its kind).
SERVICE_ERROR_STATUS: Mapping[type[ServiceError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    ValidationFailed: 422,
}


class ProblemError(Exception):
    """A problem the web layer reports; subclasses fix the status and type."""

    status: ClassVar[int] = 400
    slug: ClassVar[str | None] = None  # None: "about:blank", the plain HTTP status

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extensions = extensions

    @property
    def title(self) -> str:
        return status_title(self.status)

    @property
    def type(self) -> str:
        return TYPE_PREFIX + self.slug if self.slug else "about:blank"

    def response(self) -> Response:
        return problem_response(
            self.status,
            self.detail,
            title=self.title,
            type_=self.type,
            errors=self.errors,
            headers=self.headers,
            **self.extensions,
        )


class BadRequest(ProblemError):
    status = 400


class MalformedBody(ProblemError):
    status = 400
    slug = "malformed-body"


class Unauthorized(ProblemError):
    status = 401

    def __init__(self, detail: str | None = None) -> None:
        # RFC 6750: say which scheme to use.
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="grader"'})


class PayloadTooLarge(ProblemError):
    status = 413
    slug = "body-too-large"


class UnsupportedMediaType(ProblemError):
    status = 415


class DatabaseUnavailable(ProblemError):
    status = 503
    slug = "database-unavailable"


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    errors: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or status_title(status),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    errors = list(errors)
    if errors:
        body["errors"] = errors[:MAX_FIELD_ERRORS]
        if len(errors) > MAX_FIELD_ERRORS:
            body["errors_omitted"] = len(errors) - MAX_FIELD_ERRORS
    body.update(extensions)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def validation_errors(exc: ValidationError, *, where: str = "body") -> list[FieldError]:
    """pydantic's errors as field errors: a pointer into the body or a parameter name."""
    errors: list[FieldError] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        location = [p for p in error["loc"] if p not in ("function-after", "function-before")]
        known = PYDANTIC_MESSAGES.get(error["type"])
        # A message a validator wrote itself (value_error) is already the service's text.
        detail = _(known) if known is not None else error["msg"].removeprefix("Value error, ")
        if where == "body":
            errors.append({"pointer": json_pointer(location), "detail": detail})
        else:
            errors.append({where: ".".join(map(str, location)), "detail": detail})
    return errors


def service_error_status(exc: ServiceError) -> int:
    for kind, status in SERVICE_ERROR_STATUS.items():
        if isinstance(exc, kind):
            return status
    return 400


def _service_error(exc: ServiceError) -> Response:
    status = service_error_status(exc)
    type_ = TYPE_PREFIX + exc.code if exc.code else "about:blank"
    return problem_response(status, exc.detail, type_=type_, errors=exc.errors,
                            headers=exc.headers, **exc.extensions)


def http_problem(exc: HTTPException) -> Response:
    """An HTTP error (404, 405, 413 ...) as problem+json."""
    status = exc.code or 500
    # Keep headers such as Allow (405) but not werkzeug's HTML content type.
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    detail = exc.description if status != 500 else None
    return problem_response(status, detail, headers=headers)


def _database_error(exc: DBAPIError | PoolTimeoutError) -> Response:
    if isinstance(exc, PoolTimeoutError) or is_connection_error(exc):
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        retry_after = current_app.config["RETRY_AFTER_SECONDS"]
        return DatabaseUnavailable(
            _("The database is unreachable; retry later."),
            headers={"Retry-After": str(retry_after)},
        ).response()
    return _unexpected(exc)


def _unexpected(exc: Exception) -> Response:
    # The traceback goes to the log, never to the client.
    logger.error("unhandled exception", exc_info=exc)
    return problem_response(500, _("An unexpected error occurred; it has been logged."))


def init_app(app: Flask) -> None:
    app.register_error_handler(ProblemError, lambda exc: exc.response())
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(HTTPException, http_problem)
    app.register_error_handler(DBAPIError, _database_error)
    app.register_error_handler(PoolTimeoutError, _database_error)
    app.register_error_handler(InternalServerError, lambda exc: _unexpected(exc))
    app.register_error_handler(Exception, _unexpected)
