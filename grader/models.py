"""The service's tables as SQLAlchemy 2 typed models.

Rules the database enforces itself, so that no code path can get around them:
usernames, token ids, exercise version numbers and content hashes, enrollments,
variant and attempt numbers, and idempotency keys are all unique constraints. Attempts
are only ever inserted: nothing updates or deletes them.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship

from grader.i18n import LANGUAGES

# Constraint names are generated from these patterns, so migrations never carry
# names chosen by one database (PostgreSQL and SQLite name unnamed constraints
# differently, which breaks batch migrations on SQLite).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored in UTC.

    PostgreSQL keeps the zone (timestamptz); SQLite has no zone, so values are stored
    as naive UTC and given back their zone when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the service stores only timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(enum.StrEnum):
    """What an account may do across the service."""

    ADMIN = "admin"
    INSTRUCTOR = "instructor"
    STUDENT = "student"


class CourseRole(enum.StrEnum):
    """What an enrolled user is within one course."""

    INSTRUCTOR = "instructor"
    STUDENT = "student"


class ScorePolicy(enum.StrEnum):
    """Which attempt's score counts for an assignment (the gradebook, and the score an
    LMS receives)."""

    BEST = "best"  # the best of the student's attempts
    LATEST = "latest"  # the student's most recent attempt


class Feedback(enum.StrEnum):
    """What a student's attempt at an assignment shows them (course staff, and practice,
    always see everything)."""

    FULL = "full"  # every blank: status, points, the mistake diagnosed, its message
    LOCATION = "location"  # which blanks are wrong, and where to start; no diagnosis
    SCORE = "score"  # the score alone


def _enum_column_type(enum_class: type[enum.StrEnum], name: str) -> Enum:
    # A VARCHAR plus a CHECK constraint rather than a native PostgreSQL enum: adding a
    # role later is then a plain constraint change on both databases.
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


_LANGUAGE_CODES = ", ".join(f"'{code}'" for code in LANGUAGES)  # 'en', 'pt_BR'


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"language IS NULL OR language IN ({_LANGUAGE_CODES})",
                        name="language_supported"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[Role] = mapped_column(_enum_column_type(Role, "role"))
    # The language the user chose to read the service in (a code of grader.i18n:
    # "pt_BR", "en"); None until they choose.
    language: Mapped[str | None] = mapped_column(String(10))
    # What an LMS says of the user at each launch (name and email claims); None for
    # accounts made here.
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<User {self.username} ({self.role.value})>"


class LmsIdentity(Base):
    """A user's account in an external LMS: an LTI issuer and its `sub` (unique per
    issuer, so every registration of one issuer shares it)."""

    __tablename__ = "lms_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token: its public id in clear, its secret only as a SHA-256 hash."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]  # None: valid until revoked
    # When the token was last presented, to within a minute (grader.services.accounts).
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class ExerciseRecord(Base):
    """An exercise id (the stored counterpart of `engine.Exercise`); its content lives
    in immutable versions."""

    __tablename__ = "exercises"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    # None for exercises loaded from the bundled folder: only admins may edit those.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    latest_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExerciseVersion(Base):
    """The YAML text of one version of an exercise, never changed once stored."""

    __tablename__ = "exercise_versions"
    __table_args__ = (
        UniqueConstraint("exercise_id", "number"),
        UniqueConstraint("exercise_id", "content_hash"),
        # What an attempt's (version, exercise) refers to.
        UniqueConstraint("id", "exercise_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exercise_id: Mapped[str] = mapped_column(ForeignKey("exercises.id"))
    number: Mapped[int]
    # Loaded only when the spec must be parsed (the parsed spec is cached by hash).
    yaml_text: Mapped[str] = deferred(mapped_column(Text, nullable=False))
    content_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    practice: Mapped[bool]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("course_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[CourseRole] = mapped_column(_enum_column_type(CourseRole, "course_role"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class Assignment(Base):
    """An exercise version set in a course, with its attempt limit, time window and
    what students are shown."""

    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint("max_attempts IS NULL OR max_attempts >= 1", name="max_attempts_positive"),
        CheckConstraint(
            "opens_at IS NULL OR due_at IS NULL OR opens_at < due_at", name="opens_before_due"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    # Pinned when the assignment is made: every student answers the same version even
    # if the exercise is edited during the assignment.
    exercise_version_id: Mapped[int] = mapped_column(ForeignKey("exercise_versions.id"))
    max_attempts: Mapped[int | None]
    opens_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    new_variant_each_attempt: Mapped[bool] = mapped_column(default=False)
    # What a student's attempts show them; every result is stored in full regardless.
    feedback: Mapped[Feedback] = mapped_column(_enum_column_type(Feedback, "feedback"),
                                               default=Feedback.FULL)
    # Whether students may read the worked solution of their variant once it is due.
    solution_after_due: Mapped[bool] = mapped_column(default=False)
    score_policy: Mapped[ScorePolicy] = mapped_column(
        _enum_column_type(ScorePolicy, "score_policy"), default=ScorePolicy.BEST)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    exercise_version: Mapped[ExerciseVersion] = relationship(lazy="joined")


class VariantRecord(Base):
    """The seed and input values one user was given (number 1, 2, ... for fresh ones);
    the stored counterpart of `engine.Variant`."""

    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("user_id", "assignment_id", "number"),
        # What an attempt's (variant, user, version) and (assignment, variant) refer to.
        UniqueConstraint("id", "user_id", "exercise_version_id"),
        UniqueConstraint("assignment_id", "id"),
        # Practice variants have no assignment, and NULLs never collide in a unique
        # constraint: a partial unique index covers them on both databases.
        Index(
            "uq_variants_practice",
            "user_id",
            "exercise_version_id",
            "number",
            unique=True,
            sqlite_where=text("assignment_id IS NULL"),
            postgresql_where=text("assignment_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    exercise_version_id: Mapped[int] = mapped_column(ForeignKey("exercise_versions.id"))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"))
    number: Mapped[int]
    seed: Mapped[int | None]
    inputs: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attempt(Base):
    """One submission and its grade; inserted once, never changed."""

    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("user_id", "assignment_id", "number"),
        UniqueConstraint("user_id", "idempotency_key"),
        Index(
            "uq_attempts_practice",
            "user_id",
            "exercise_id",
            "number",
            unique=True,
            sqlite_where=text("assignment_id IS NULL"),
            postgresql_where=text("assignment_id IS NULL"),
        ),
        Index("ix_attempts_assignment_id_user_id", "assignment_id", "user_id"),
        # An attempt answers its variant: the variant's user and version are the
        # attempt's, and an assignment attempt's assignment is the variant's (the
        # variant's own keys reach the users, versions and assignments). Three checks
        # on insert, none on a row every attempt shares but the version's, where five
        # single keys made five.
        ForeignKeyConstraint(["variant_id", "user_id", "exercise_version_id"],
                             ["variants.id", "variants.user_id", "variants.exercise_version_id"]),
        ForeignKeyConstraint(["assignment_id", "variant_id"],
                             ["variants.assignment_id", "variants.id"]),
        ForeignKeyConstraint(["exercise_version_id", "exercise_id"],
                             ["exercise_versions.id", "exercise_versions.exercise_id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int]
    exercise_id: Mapped[str] = mapped_column(String(100))
    exercise_version_id: Mapped[int]
    variant_id: Mapped[int]
    assignment_id: Mapped[int | None]
    number: Mapped[int]
    answers: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any]]
    score: Mapped[float]
    # Retries with the same key return this attempt; the hash tells a retry from a
    # different request that reuses the key.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    variant: Mapped[VariantRecord] = relationship(
        lazy="joined", primaryjoin="Attempt.variant_id == VariantRecord.id",
        foreign_keys="Attempt.variant_id")
    exercise_version: Mapped[ExerciseVersion] = relationship(
        lazy="joined", primaryjoin="Attempt.exercise_version_id == ExerciseVersion.id",
        foreign_keys="Attempt.exercise_version_id")


class SignInLink(Base):
    """A one-time sign-in link: its secret only as a SHA-256 hash, usable once
    (`used_at` set by the statement that uses it) until it expires."""

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Who asked for it: an instructor through the API; None from the command line.
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class BrowserSession(Base):
    """A signed-in browser: the cookie holds a random secret, stored here only as its
    SHA-256 hash. Signing out deletes the row."""

    __tablename__ = "browser_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


# ---------------------------------------------------------------- LTI 1.3


class LtiPlatform(Base):
    """A registered LMS (an LTI 1.3 platform): its issuer and the client id it gave
    this tool, and where its login, token and keys are."""

    __tablename__ = "lti_platforms"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_url: Mapped[str] = mapped_column(String(1000))
    token_url: Mapped[str] = mapped_column(String(1000))
    jwks_url: Mapped[str] = mapped_column(String(1000))
    # Whether the LMS's teaching assistants are instructors here (else students).
    assistants_teach: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deployments: Mapped[list[LtiDeployment]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="LtiDeployment.id")


class LtiDeployment(Base):
    """A deployment id of a platform: launches from any other are refused."""

    __tablename__ = "lti_deployments"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))


class LtiToolKey(Base):
    """An RSA key pair of the tool: the newest unretired one signs; a retired one stays
    in the published key set until its grace period ends."""

    __tablename__ = "lti_tool_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    private_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class LtiNonce(Base):
    """A nonce sent with an OIDC login, bound to its state; a launch uses it once
    (`used_at`, set by the statement that uses it) before it expires."""

    __tablename__ = "lti_nonces"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("lti_platforms.id", ondelete="CASCADE"), index=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    state_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class LtiContext(Base):
    """An LMS course (a deployment's context) and the course it is here, with the
    service endpoints its latest launch named."""

    __tablename__ = "lti_contexts"
    __table_args__ = (UniqueConstraint("deployment_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("lti_deployments.id", ondelete="CASCADE"))
    context_id: Mapped[str] = mapped_column(String(255))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    memberships_url: Mapped[str | None] = mapped_column(String(1000))
    lineitems_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiResourceLink(Base):
    """A placement of the tool in an LMS course, and the assignment it opens (None
    until an instructor links it); its gradebook column (line item) once known."""

    __tablename__ = "lti_resource_links"
    __table_args__ = (UniqueConstraint("context_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    context_id: Mapped[int] = mapped_column(ForeignKey("lti_contexts.id", ondelete="CASCADE"))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"), index=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    lineitem_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LtiDeepLink(Base):
    """An instructor's deep linking request, between the launch and the page where they
    choose what to place: where to send the answer and what to echo, usable once."""

    __tablename__ = "lti_deep_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("lti_deployments.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    return_url: Mapped[str] = mapped_column(String(1000))
    # The platform's `data`, echoed in the answer; None when it sent none.
    data: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ScoreJobState(enum.StrEnum):
    """Where a score's passback stands."""

    PENDING = "pending"  # to send (again) once `run_after` has passed
    DONE = "done"  # the LMS took it
    PARKED = "parked"  # the LMS refused it for good: an instructor looks, and may retry


class LtiScoreJob(Base):
    """The passback of one attempt's score to one placement: written in the transaction
    that stores the attempt, taken by one worker at a time (`locked_until`)."""

    __tablename__ = "lti_score_jobs"
    __table_args__ = (
        UniqueConstraint("attempt_id", "resource_link_id"),
        Index("ix_lti_score_jobs_state_run_after", "state", "run_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id"))
    resource_link_id: Mapped[int] = mapped_column(
        ForeignKey("lti_resource_links.id", ondelete="CASCADE"), index=True)
    state: Mapped[ScoreJobState] = mapped_column(
        _enum_column_type(ScoreJobState, "score_job_state"), default=ScoreJobState.PENDING)
    tries: Mapped[int] = mapped_column(default=0)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    # The LMS's answer to the last failed try (status and body), for the instructor.
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
