"""What a use case reports when it cannot do what was asked: plain exceptions, free of
any web framework. The web layer (`grader.problems`) answers each with a problem+json
response whose status it chooses by class; the command line prints the detail.

Each error has a `detail` for a person, an optional `errors` list locating each cause
(a JSON Pointer into the request, a query parameter, or a YAML line, node and field),
and a `code`: the stable, machine-readable name of the reason where there is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from engine.quoting import quoted, shortened
from grader.i18n import gettext as _

FieldError = dict[str, Any]


class ServiceError(Exception):
    """A use case's refusal. Subclasses say which kind; `code` names a specific reason."""

    code: ClassVar[str | None] = None

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extensions = extensions


class NotFound(ServiceError):
    """What was asked for does not exist (or the caller may not know that it does)."""


class Forbidden(ServiceError):
    """The caller may not do this."""


class Conflict(ServiceError):
    """The request collides with the current state (a name taken, a race lost)."""


class ValidationFailed(ServiceError):
    """What was sent does not validate; `errors` locates each cause."""

    code = "validation-error"


class InvalidExercise(ValidationFailed):
    code = "invalid-exercise"


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency-key-reused"


class AssignmentClosed(Forbidden):
    code = "assignment-closed"


class NotEnrolled(Forbidden):
    code = "not-enrolled"


class SolutionNotReleased(Forbidden):
    code = "solution-not-released"


class PracticeClosed(Forbidden):
    """Practice would grade the numbers of an assignment open to the caller: closed
    `until` the assignment is due (None: it has no due time)."""

    code = "practice-closed"

    def __init__(self, detail: str, *, until: datetime | None, assignment: int | None
                 ) -> None:
        super().__init__(detail, until=until.isoformat() if until else None,
                         assignment=assignment)
        self.until = until
        self.assignment = assignment


class NoAttemptsLeft(Conflict):
    code = "no-attempts-left"


class VariantAlreadyAnswered(Conflict):
    code = "variant-answered"


class VariantReplaced(Conflict):
    """The practice variant answered was replaced (it had an open assignment's numbers)."""

    code = "variant-replaced"


def json_pointer(location: Iterable[str | int]) -> str:
    """RFC 6901: "/forward/x", with "~" and "/" in keys escaped; a key too long to echo
    is cut (engine.quoting), so such a pointer ends in "…"."""
    return "".join("/" + shortened(str(p)).replace("~", "~0").replace("/", "~1")
                   for p in location)


def quoted_name(name: str) -> str:
    """A name the caller gave (an id, a key), quoted for a message in the reader's
    language: 'p0', or when it is long 'gggg…' (100000 characters)."""
    return quoted(name, length_note=_("{count} characters"))
