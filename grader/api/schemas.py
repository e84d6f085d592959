"""Request and response bodies of the API as pydantic models.

The same models validate requests, serialize responses and generate the OpenAPI
document, so the document cannot drift from what the service does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from grader.i18n import supported
from grader.models import CourseRole, Feedback, Role, ScorePolicy

MAX_ATTEMPTS_LIMIT = 1000
ID_MAX = 2**31 - 1  # integer ids are 32-bit columns
SEED_MAX = 2**31 - 1
# Times of assignments: from the epoch to the last year datetime can hold. Anything
# outside is a typo, and a time near year 1 or 9999 can leave datetime's range when
# converted to UTC.
MIN_YEAR, MAX_YEAR = 1970, 9999

# C0 and C1 control characters, DEL included: none belongs in a stored one-line text
# (PostgreSQL refuses NUL in text outright; the others break logs, CSV and terminals).
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# An ISO 8601 date and time; without this gate pydantic would also read a number, or
# a string of digits, as a Unix timestamp.
_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _one_line(value: str) -> str:
    found = _CONTROL_CHARACTER.search(value)
    if found is not None:
        raise PydanticCustomError(
            "control_character", "must not contain control characters (found {char} at "
            "position {position})", {"char": f"U+{ord(found[0]):04X}", "position": found.start()})
    return value


def _iso_date_time(value: Any) -> Any:
    if not isinstance(value, str) or not _ISO_DATE_TIME.match(value):
        raise PydanticCustomError(
            "iso_datetime", "must be an ISO 8601 date and time with its time zone, as a "
            "string: 2030-01-31T23:59:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise PydanticCustomError(
            "datetime_range", "must be between {min_year} and {max_year} (in UTC)",
            {"min_year": MIN_YEAR, "max_year": MAX_YEAR})
    return utc


Username = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$", max_length=100)
]
ExerciseId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)]
# One line of text, stored: surrounding spaces dropped, no control characters.
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_one_line),
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100),
                  AfterValidator(_one_line)]
TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=100), AfterValidator(_one_line)]
# A point in time as JSON sends it (an ISO 8601 string with a zone), kept in UTC.
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_date_time), AfterValidator(_in_utc)]


def _language_code(value: str) -> str:
    code = supported(value)
    if code is None:  # cannot happen for the names accepted
        raise PydanticCustomError("language", "unsupported language")
    return code


# A language as a person or HTTP writes it, read as grader.i18n's code ("pt_BR", "en").
LanguageName = Annotated[Literal["pt-BR", "pt_BR", "en"], AfterValidator(_language_code)]


class RequestModel(BaseModel):
    """Request bodies: a misspelled key is an error, not silently ignored, and so is a
    value of the wrong JSON type (strict fields: "3" is not a number, "yes" not a
    boolean, a number not a time)."""

    model_config = ConfigDict(extra="forbid")


class QueryModel(BaseModel):
    """Query parameters: unknown ones are ignored (caches and proxies add their own)."""

    model_config = ConfigDict(extra="ignore")


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------- requests


class CourseCreate(RequestModel):
    title: Title


class EnrollmentCreate(RequestModel):
    user: Username
    role: CourseRole = CourseRole.STUDENT


class AssignmentCreate(RequestModel):
    exercise: ExerciseId
    max_attempts: Annotated[StrictInt, Field(ge=1, le=MAX_ATTEMPTS_LIMIT)] | None = Field(
        default=None, description="null: unlimited"
    )
    opens_at: UtcDatetime | None = None
    due_at: UtcDatetime | None = Field(default=None, description="after opens_at")
    new_variant_each_attempt: StrictBool = False
    feedback: Feedback = Field(
        default=Feedback.FULL, description="what a student's attempts show: full (every "
        "blank, diagnosed), location (which blanks are wrong, no diagnosis) or score")
    solution_after_due: StrictBool = Field(
        default=False, description="students may read the worked solution of their variant "
        "once the assignment is due (it needs a due_at)")
    score_policy: ScorePolicy = Field(
        default=ScorePolicy.BEST, description="which attempt counts in the gradebook and "
        "in the score sent to an LMS: best, or the latest")

    @field_validator("due_at")
    @classmethod
    def _due_after_opening(cls, due_at: datetime | None, info: ValidationInfo) -> datetime | None:
        opens_at = info.data.get("opens_at")  # absent when it did not validate
        if due_at is not None and opens_at is not None and due_at <= opens_at:
            raise PydanticCustomError("due_before_opening", "must be after opens_at")
        return due_at


class MeUpdate(RequestModel):
    language: LanguageName | None = Field(
        default=None, description='the language to read the service in: "pt-BR" (or '
        '"pt_BR") or "en"; null: none chosen (the browser\'s Accept-Language decides). '
        "Left as it is when absent.")


class TokenCreate(RequestModel):
    name: TokenName = Field(
        description="what the token is for (one line, at most 100 characters)")
    expires_at: UtcDatetime | None = Field(
        default=None, description="refused from this time on (in the future); null: "
        "valid until revoked")


class TokensQuery(QueryModel):
    user: Username | None = Field(
        default=None, description="another user's tokens (admins)")


class SignInLinksCreate(RequestModel):
    users: Annotated[list[Username], Field(min_length=1, max_length=1000)] | None = Field(
        default=None, description="the students to make links for (default: every student "
        "of the course)")


class AttemptsQuery(QueryModel):
    user: Username | None = Field(
        default=None, description="another user (admins; instructors: a user enrolled in a "
        "course they teach)")


class SolutionQuery(QueryModel):
    user: Username | None = Field(
        default=None, description="that user's variant: their practice variant, else their "
        "latest assignment variant of the exercise")
    assignment: Annotated[int, Field(ge=1, le=ID_MAX)] | None = Field(
        default=None, description="with user: that user's variant in this assignment")
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] | None = Field(
        default=None, description="the variant drawn from this seed")

    @model_validator(mode="after")
    def _one_of(self) -> SolutionQuery:
        if self.user is not None and self.seed is not None:
            raise ValueError("give user or seed, not both")
        if self.assignment is not None and self.user is None:
            raise ValueError("give user with assignment: whose variant in the assignment")
        return self


# ---------------------------------------------------------------- responses


class ExerciseSummary(ResponseModel):
    id: str
    title: str
    version: int
    practice: bool


class StoredExerciseOut(ResponseModel):
    id: str
    version: int
    title: str
    content_hash: str
    created: bool = Field(description="true when this request stored a new version")


class Tolerance(ResponseModel):
    rel: float | None = None
    abs: float | None = None
    sigfigs: int | None = None
    decimals: int | None = None


class NodeOut(ResponseModel):
    id: str
    op: str
    inputs: list[str] = Field(serialization_alias="in")
    params: dict[str, float] = Field(default_factory=dict)


class EdgeOut(ResponseModel):
    source: str = Field(serialization_alias="from")
    target: str = Field(serialization_alias="to")
    slot: int


class VariantOut(ResponseModel):
    """What a user needs to answer an exercise; never a reference value."""

    exercise: str
    version: int
    title: str
    description: str
    variant: int = Field(description="1 for the first variant, 2, ... for fresh ones")
    seed: int | None
    inputs: dict[str, float]
    nodes: list[NodeOut]
    edges: list[EdgeOut]
    output: str
    ask: list[Literal["forward", "backward", "local"]]
    tolerance: Tolerance
    node_tolerances: dict[str, Tolerance]


class AttemptOut(ResponseModel):
    """The scoring result at the top level, plus the attempt's id, number (the attempts
    used by then) and the attempts left (null when unlimited). An assignment's feedback
    policy may show a student less: `feedback` says what."""

    model_config = ConfigDict(extra="allow")

    id: int
    number: int
    attempts_left: int | None
    score: float
    blanks: Any = Field(description="every blank in working order; null under feedback "
                        "score; without mistake codes or diagnosis under feedback location")
    first_error: Any = Field(description="where to start fixing; null when nothing is "
                             "wrong, and under feedback score")
    exercise: str
    version: int
    variant: int
    assignment: int | None
    feedback: Feedback = Field(
        description="how much of the result this shows: an assignment's feedback policy "
        "for its students; full for course staff and practice")
    created_at: datetime


class MeOut(ResponseModel):
    username: str
    role: Role
    language: Literal["pt_BR", "en"] | None = Field(
        description="the language chosen, as its code; null: none chosen")


class TokenOut(ResponseModel):
    id: int
    user: str
    name: str
    prefix: str = Field(description="the token's first part, bpg_ and its public id: tells "
                        "tokens apart; the secret is never shown again")
    created_at: datetime
    expires_at: datetime | None = Field(description="null: valid until revoked")
    last_used_at: datetime | None = Field(
        description="when last used, to within a minute; null: never used")
    revoked_at: datetime | None
    active: bool = Field(description="neither revoked nor expired")


class NewTokenOut(TokenOut):
    token: str = Field(description="the token, for Authorization: Bearer; shown only in "
                       "this response")


class CourseOut(ResponseModel):
    id: int
    title: str
    role: CourseRole | None = Field(default=None, description="the caller's role in the course")
    created_at: datetime


class SignInLinkOut(ResponseModel):
    user: str
    url: str = Field(description="signs the user in to the pages once; shown only now")
    expires_at: datetime


class EnrollmentOut(ResponseModel):
    user: str
    role: CourseRole
    created_at: datetime


class AssignmentOut(ResponseModel):
    id: int
    course: int
    exercise: str
    version: int
    title: str
    max_attempts: int | None
    opens_at: datetime | None
    due_at: datetime | None
    new_variant_each_attempt: bool
    feedback: Feedback
    solution_after_due: bool
    score_policy: ScorePolicy
    created_at: datetime


class AssignmentVariantOut(VariantOut):
    assignment: AssignmentOut
    attempts_used: int
    attempts_left: int | None


class GradebookAssignment(ResponseModel):
    id: int
    exercise: str
    title: str
    score_policy: ScorePolicy


class GradebookStudent(ResponseModel):
    user: str
    score: dict[str, float | None] = Field(
        description="assignment id -> the score that counts, by the assignment's "
        "score_policy (null: no attempt)")
    best: dict[str, float | None] = Field(description="assignment id -> best score")
    attempts: dict[str, int] = Field(description="assignment id -> attempts made")


class GradebookOut(ResponseModel):
    course: int
    assignments: list[GradebookAssignment]
    students: list[GradebookStudent]


class SolutionOut(ResponseModel):
    exercise: str
    version: int
    assignment: int | None = Field(default=None, description="the assignment of the variant")
    variant: int | None = Field(default=None, description="the user's variant number")
    seed: int | None
    inputs: dict[str, float]
    values: dict[str, float]
    grads: dict[str, float]
    steps: list[dict[str, Any]]


class HealthOut(ResponseModel):
    status: str
    database: str | None = None
    revision: str | None = None
    head: str | None = None


class FieldErrorOut(ResponseModel):
    detail: str
    pointer: str | None = None
    parameter: str | None = None
    header: str | None = None
    file: str | None = Field(default=None, description="the spec's name (an exercise's YAML)")
    line: int | None = None
    column: int | None = None
    offset: int | None = Field(default=None, description="into the body: characters, or "
                               "bytes where the body is not UTF-8")
    node: str | None = None
    field: str | None = None


class ProblemOut(ResponseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldErrorOut] | None = Field(default=None, description="at most 100")
    errors_omitted: int | None = Field(default=None,
                                       description="field errors found beyond those listed")
