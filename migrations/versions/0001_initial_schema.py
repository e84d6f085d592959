"""Initial schema: users and tokens, exercises and versions, courses, enrollments,
assignments, variants and attempts.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The models' UTCDateTime stores through this type; a migration names the database
# type itself so that it never depends on today's application code.
Timestamp = sa.DateTime(timezone=True)


def _role(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=20)


def _created_at() -> sa.Column:
    return sa.Column("created_at", Timestamp, nullable=False)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("role", _role("role", "admin", "instructor", "student"), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        _created_at(),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_api_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("public_id", name=op.f("uq_api_tokens_public_id")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])
    op.create_table(
        "lms_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name=op.f("fk_lms_identities_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lms_identities")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_lms_identities_issuer_subject")),
    )
    op.create_index(op.f("ix_lms_identities_user_id"), "lms_identities", ["user_id"])
    op.create_table(
        "courses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_courses_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
    )
    op.create_table(
        "exercises",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_exercises_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exercises")),
    )
    op.create_table(
        "enrollments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", _role("course_role", "instructor", "student"), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"],
                                name=op.f("fk_enrollments_course_id_courses")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_enrollments_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrollments")),
        sa.UniqueConstraint("course_id", "user_id", name=op.f("uq_enrollments_course_id_user_id")),
    )
    op.create_index(op.f("ix_enrollments_user_id"), "enrollments", ["user_id"])
    op.create_table(
        "exercise_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exercise_id", sa.String(length=100), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("practice", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_exercise_versions_created_by_users")),
        sa.ForeignKeyConstraint(["exercise_id"], ["exercises.id"],
                                name=op.f("fk_exercise_versions_exercise_id_exercises")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exercise_versions")),
        sa.UniqueConstraint("exercise_id", "content_hash",
                            name=op.f("uq_exercise_versions_exercise_id_content_hash")),
        sa.UniqueConstraint("exercise_id", "number",
                            name=op.f("uq_exercise_versions_exercise_id_number")),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("exercise_version_id", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=True),
        sa.Column("opens_at", Timestamp, nullable=True),
        sa.Column("due_at", Timestamp, nullable=True),
        sa.Column("new_variant_each_attempt", sa.Boolean(), nullable=False),
        _created_at(),
        sa.CheckConstraint("max_attempts IS NULL OR max_attempts >= 1",
                           name=op.f("ck_assignments_max_attempts_positive")),
        sa.CheckConstraint("opens_at IS NULL OR due_at IS NULL OR opens_at < due_at",
                           name=op.f("ck_assignments_opens_before_due")),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"],
                                name=op.f("fk_assignments_course_id_courses")),
        sa.ForeignKeyConstraint(
            ["exercise_version_id"], ["exercise_versions.id"],
            name=op.f("fk_assignments_exercise_version_id_exercise_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
    )
    op.create_index(op.f("ix_assignments_course_id"), "assignments", ["course_id"])
    op.create_table(
        "variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("exercise_version_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"],
                                name=op.f("fk_variants_assignment_id_assignments")),
        sa.ForeignKeyConstraint(
            ["exercise_version_id"], ["exercise_versions.id"],
            name=op.f("fk_variants_exercise_version_id_exercise_versions")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_variants_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variants")),
        sa.UniqueConstraint("user_id", "assignment_id", "number",
                            name=op.f("uq_variants_user_id_assignment_id_number")),
    )
    op.create_index(
        "uq_variants_practice", "variants", ["user_id", "exercise_version_id", "number"],
        unique=True, sqlite_where=sa.text("assignment_id IS NULL"),
        postgresql_where=sa.text("assignment_id IS NULL"),
    )
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("exercise_id", sa.String(length=100), nullable=False),
        sa.Column("exercise_version_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        _created_at(),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"],
                                name=op.f("fk_attempts_assignment_id_assignments")),
        sa.ForeignKeyConstraint(["exercise_id"], ["exercises.id"],
                                name=op.f("fk_attempts_exercise_id_exercises")),
        sa.ForeignKeyConstraint(
            ["exercise_version_id"], ["exercise_versions.id"],
            name=op.f("fk_attempts_exercise_version_id_exercise_versions")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_attempts_user_id_users")),
        sa.ForeignKeyConstraint(["variant_id"], ["variants.id"],
                                name=op.f("fk_attempts_variant_id_variants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
        sa.UniqueConstraint("user_id", "assignment_id", "number",
                            name=op.f("uq_attempts_user_id_assignment_id_number")),
        sa.UniqueConstraint("user_id", "idempotency_key",
                            name=op.f("uq_attempts_user_id_idempotency_key")),
    )
    op.create_index("ix_attempts_assignment_id_user_id", "attempts", ["assignment_id", "user_id"])
    op.create_index(
        "uq_attempts_practice", "attempts", ["user_id", "exercise_id", "number"],
        unique=True, sqlite_where=sa.text("assignment_id IS NULL"),
        postgresql_where=sa.text("assignment_id IS NULL"),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes too.
    for table in ("attempts", "variants", "assignments", "exercise_versions", "enrollments",
                  "exercises", "courses", "lms_identities", "api_tokens", "users"):
        op.drop_table(table)
