"""Attempts refer to their variant by composite keys: the variant's user, version and
assignment are the attempt's, and inserting an attempt checks three keys instead of five
(none on a row every attempt shares but the version's).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SINGLE_KEYS = (  # (name, column, referred table) of 0001's keys on attempts
    ("fk_attempts_assignment_id_assignments", "assignment_id", "assignments"),
    ("fk_attempts_exercise_id_exercises", "exercise_id", "exercises"),
    ("fk_attempts_exercise_version_id_exercise_versions", "exercise_version_id",
     "exercise_versions"),
    ("fk_attempts_user_id_users", "user_id", "users"),
    ("fk_attempts_variant_id_variants", "variant_id", "variants"),
)


# Attempts the new keys would refuse. Checked first, so that SQLite (whose batch copy runs
# with foreign keys off) refuses them as PostgreSQL would, and both say why.
MISMATCHED = sa.text("""
    SELECT count(*) FROM attempts AS a
    LEFT JOIN variants AS v ON v.id = a.variant_id
    LEFT JOIN exercise_versions AS ev ON ev.id = a.exercise_version_id
    WHERE v.id IS NULL OR ev.id IS NULL
       OR v.user_id <> a.user_id OR v.exercise_version_id <> a.exercise_version_id
       OR ev.exercise_id <> a.exercise_id
       OR (a.assignment_id IS NOT NULL
           AND (v.assignment_id IS NULL OR v.assignment_id <> a.assignment_id))
""")


def upgrade() -> None:
    mismatched = op.get_bind().execute(MISMATCHED).scalar_one()
    if mismatched:
        raise RuntimeError(
            f"{mismatched} attempt(s) do not match their variant (its user, version, "
            "exercise or assignment); correct them, then migrate again")
    with op.batch_alter_table("exercise_versions") as batch:
        batch.create_unique_constraint(op.f("uq_exercise_versions_id_exercise_id"),
                                       ["id", "exercise_id"])
    with op.batch_alter_table("variants") as batch:
        batch.create_unique_constraint(op.f("uq_variants_id_user_id_exercise_version_id"),
                                       ["id", "user_id", "exercise_version_id"])
        batch.create_unique_constraint(op.f("uq_variants_assignment_id_id"),
                                       ["assignment_id", "id"])
    with op.batch_alter_table("attempts") as batch:
        for name, _, _ in SINGLE_KEYS:
            batch.drop_constraint(op.f(name), type_="foreignkey")
        batch.create_foreign_key(
            op.f("fk_attempts_variant_id_variants"), "variants",
            ["variant_id", "user_id", "exercise_version_id"],
            ["id", "user_id", "exercise_version_id"])
        batch.create_foreign_key(
            op.f("fk_attempts_assignment_id_variants"), "variants",
            ["assignment_id", "variant_id"], ["assignment_id", "id"])
        batch.create_foreign_key(
            op.f("fk_attempts_exercise_version_id_exercise_versions"), "exercise_versions",
            ["exercise_version_id", "exercise_id"], ["id", "exercise_id"])


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        for name in ("fk_attempts_variant_id_variants", "fk_attempts_assignment_id_variants",
                     "fk_attempts_exercise_version_id_exercise_versions"):
            batch.drop_constraint(op.f(name), type_="foreignkey")
        for name, column, table in SINGLE_KEYS:
            batch.create_foreign_key(op.f(name), table, [column], ["id"])
    with op.batch_alter_table("variants") as batch:
        batch.drop_constraint(op.f("uq_variants_assignment_id_id"), type_="unique")
        batch.drop_constraint(op.f("uq_variants_id_user_id_exercise_version_id"),
                              type_="unique")
    with op.batch_alter_table("exercise_versions") as batch:
        batch.drop_constraint(op.f("uq_exercise_versions_id_exercise_id"), type_="unique")
