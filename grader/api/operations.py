"""`@operation`: what every API handler has in common, declared once per handler.

The decorator authenticates the caller (unless the operation is public), checks the
caller's role, then parses and validates the query and the body, calls the handler with
typed arguments, and serializes the model it returns. The declaration doubles as the
handler's entry in the OpenAPI document (`grader.api.openapi`).

Bodies are read here, never with `request.get_data()`: a body sent without
Content-Length (Transfer-Encoding: chunked) would be cut at the limit and the rest
silently dropped. `read_body` reads one byte past the limit instead and answers 413.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pydantic_core
from flask import Response, current_app, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import ClientDisconnected

from grader import rate_limits
from grader.api.bodies import parse_json_body, utf8_text
from grader.auth import authenticate
from grader.i18n import gettext as _
from grader.models import Role
from grader.problems import (
    BadRequest,
    MalformedBody,
    PayloadTooLarge,
    UnsupportedMediaType,
    validation_errors,
)
from grader.services.accounts import require_role
from grader.services.errors import ValidationFailed
from grader.sessions import get_session, open_autocommit_session

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
READ_CHUNK_BYTES = 65_536

OPERATION_ATTRIBUTE = "operation"  # where a handler keeps its declaration

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class Operation:
    """An API operation as declared on its handler."""

    summary: str
    response: Any = None  # a model, list[model], or None for no body
    status: int = 200
    body: type[BaseModel] | None = None  # validated into this model
    body_required: bool = True  # False: no body at all is None (an empty one too)
    json_body: Any = None  # any JSON, validated by the use case; the model documents it
    yaml_body: bool = False
    query: type[BaseModel] | None = None
    public: bool = False
    # Checked right after authentication, before the query or body is read: a caller
    # whose role can never succeed gets 403, whatever they sent (admins always pass).
    roles: tuple[Role, ...] = ()
    # The app config key of this operation's body limit (never above MAX_BODY_BYTES).
    body_limit: str = "MAX_BODY_BYTES"
    # The operation's statements need no transaction block: its reads see what each
    # statement sees under READ COMMITTED anyway, and each of its writes is a single
    # statement that checks what it must and may stand alone (a variant drawn stays
    # drawn when the attempt is then refused). Run in autocommit, it saves the BEGIN
    # and COMMIT round trips: the submit path.
    autocommit: bool = False
    idempotency_key: bool = False
    # The rate limits counted once the caller is known (grader.rate_limits: SUBMIT,
    # SIGN_IN), before the body is read.
    rate_limit: str | None = None
    problems: tuple[int, ...] = ()
    also_produces: tuple[str, ...] = ()  # media types besides JSON (Accept)
    description: str = ""
    extra_statuses: Mapping[int, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """A handler's result when the status or headers differ from the declaration."""

    data: Any
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)


def operation(summary: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    spec = Operation(summary, **options)

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def handle(**path_arguments: Any) -> Response:
            arguments = dict(path_arguments)
            if spec.autocommit:
                open_autocommit_session()
            if not spec.public:
                # Before the body is read: an anonymous caller learns nothing from it.
                actor = arguments["actor"] = authenticate(get_session())
                if spec.roles:
                    require_role(actor, *spec.roles)
            if spec.rate_limit is not None:
                rate_limits.check(spec.rate_limit)
            if spec.query is not None:
                arguments["query"] = parse_query(spec.query)
            if spec.body is not None:
                data = read_json_body(required=spec.body_required)
                # JSON null is no answer to a required body: it is validated (422).
                absent = data is None and not spec.body_required
                arguments["body"] = None if absent else parse_model(spec.body, data)
            elif spec.json_body is not None:
                arguments["body"] = read_json_body()
            elif spec.yaml_body:
                arguments["text"] = read_text_body(YAML_TYPES, body_limit(spec))
            if spec.idempotency_key:
                arguments["idempotency_key"] = idempotency_key()
            return render(handler(**arguments), spec.status)

        setattr(handle, OPERATION_ATTRIBUTE, spec)
        return handle

    return decorate


def declared_operation(view: Callable[..., Any]) -> Operation | None:
    """The declaration of a view made with `@operation`, None for any other view."""
    spec = getattr(view, OPERATION_ATTRIBUTE, None)
    return spec if isinstance(spec, Operation) else None


def render(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    headers: Mapping[str, str] = {}
    if isinstance(result, Reply):
        result, status, headers = result.data, result.status, result.headers
    if result is None:
        response = Response(status=204 if status == 200 else status)
    else:
        body = pydantic_core.to_json(result, by_alias=True)
        response = Response(body, status=status, mimetype="application/json")
    response.headers.update(headers)
    return response


def body_limit(spec: Operation) -> int:
    config = current_app.config
    return int(min(config[spec.body_limit], config["MAX_BODY_BYTES"]))


def read_body(limit: int) -> bytes:
    """The request body, 413 when it is larger than `limit` bytes.

    A declared Content-Length is checked before anything is read. Without one (chunked
    transfer), at most limit + 1 bytes are read: one byte more than allowed is enough
    to refuse the body, and a larger one is never silently cut to size.
    """
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(_("the body is larger than {limit} bytes").format(limit=limit),
                              max_bytes=limit)
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        # A stream may return fewer bytes than asked for: read until it is empty.
        try:
            chunk = stream.read(min(READ_CHUNK_BYTES, limit + 1 - size))
        except ClientDisconnected:
            chunk = b""
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise PayloadTooLarge(_("the body is larger than {limit} bytes").format(limit=limit),
                              max_bytes=limit)
    if length is not None and size < length:
        detail = _("the body ended after {size} of the {length} bytes its Content-Length "
                   "announced").format(size=size, length=length)
        raise MalformedBody(detail, errors=[{"offset": size, "detail": detail}])
    return b"".join(chunks)


def read_json_body(*, required: bool = True) -> Any:
    """The request body as JSON: 415 for another media type, 400 when it is not JSON
    (or not UTF-8, or empty, or nested too deeply to parse), 422 for a key written twice
    in one object, 413 above the size limit (grader.api.bodies locates each). With
    `required` False, no body (or an empty one) is None."""
    if request.mimetype and request.mimetype not in JSON_TYPES and not request.mimetype.endswith(
        "+json"
    ):
        raise UnsupportedMediaType(_("send the body as application/json, not {media_type}")
                                   .format(media_type=request.mimetype))
    raw = read_body(current_app.config["MAX_BODY_BYTES"])
    if not required and not raw.strip():
        return None
    return parse_json_body(raw)


def read_text_body(media_types: tuple[str, ...], limit: int) -> str:
    """The request body as UTF-8 text: 415 for another media type, 400 when it is not
    UTF-8, 413 above `limit` bytes."""
    if request.mimetype not in media_types:
        raise UnsupportedMediaType(_("send the body as {media_type}").format(
            media_type=media_types[0]))
    return utf8_text(read_body(limit))


def parse_model(model: type[ModelT], data: Any) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            _("the request body does not validate"), errors=validation_errors(exc)
        ) from None


def parse_query(model: type[ModelT]) -> ModelT:
    values = {name: request.args.getlist(name) for name in request.args}
    single = {name: v[0] if len(v) == 1 else v for name, v in values.items()}
    try:
        return model.model_validate(single)
    except ValidationError as exc:
        raise ValidationFailed(
            _("the query parameters do not validate"),
            errors=validation_errors(exc, where="parameter"),
        ) from None


def idempotency_key() -> str | None:
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        return None
    key = key.strip().strip('"')  # the IETF draft sends it as a quoted string
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            _("invalid Idempotency-Key"),
            errors=[{"header": IDEMPOTENCY_KEY_HEADER,
                     "detail": _("1 to {count} printable characters").format(
                         count=MAX_IDEMPOTENCY_KEY_LENGTH)}],
        )
    return key
