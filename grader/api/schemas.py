"""Request and response bodies of the API as pydantic models.

The same models validate requests, serialize responses and generate the OpenAPI
document, so the document cannot drift from what the service does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from grader.models import CourseRole

MAX_ATTEMPTS_LIMIT = 1000
SEED_MAX = 2**31 - 1

Username = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$", max_length=100)
]
ExerciseId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class RequestModel(BaseModel):
    """Strict bodies: a misspelled key is an error, not silently ignored."""

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
    max_attempts: Annotated[int, Field(ge=1, le=MAX_ATTEMPTS_LIMIT)] | None = Field(
        default=None, description="null: unlimited"
    )
    opens_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    new_variant_each_attempt: bool = False

    @model_validator(mode="after")
    def _opens_before_due(self) -> AssignmentCreate:
        if self.opens_at and self.due_at and self.opens_at >= self.due_at:
            raise ValueError("opens_at must be before due_at")
        return self


class AttemptsQuery(QueryModel):
    user: Username | None = Field(default=None, description="another user (instructors)")


class SolutionQuery(QueryModel):
    user: Username | None = Field(default=None, description="that user's practice variant")
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] | None = Field(
        default=None, description="the variant drawn from this seed")

    @model_validator(mode="after")
    def _one_of(self) -> SolutionQuery:
        if self.user is not None and self.seed is not None:
            raise ValueError("give user or seed, not both")
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
    """The scoring result at the top level, plus the attempt's id, number and the
    attempts left (null when unlimited)."""

    model_config = ConfigDict(extra="allow")

    id: int
    number: int
    attempts_left: int | None
    score: float
    blanks: Any
    first_error: Any
    exercise: str
    version: int
    variant: int
    assignment: int | None
    created_at: datetime


class CourseOut(ResponseModel):
    id: int
    title: str
    role: CourseRole | None = Field(default=None, description="the caller's role in the course")
    created_at: datetime


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
    created_at: datetime


class AssignmentVariantOut(VariantOut):
    assignment: AssignmentOut
    attempts_used: int
    attempts_left: int | None


class GradebookAssignment(ResponseModel):
    id: int
    exercise: str
    title: str


class GradebookStudent(ResponseModel):
    user: str
    best: dict[str, float | None] = Field(description="assignment id -> best score")
    attempts: dict[str, int] = Field(description="assignment id -> attempts made")


class GradebookOut(ResponseModel):
    course: int
    assignments: list[GradebookAssignment]
    students: list[GradebookStudent]


class SolutionOut(ResponseModel):
    exercise: str
    version: int
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
    line: int | None = None
    node: str | None = None
    field: str | None = None


class ProblemOut(ResponseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldErrorOut] | None = None
