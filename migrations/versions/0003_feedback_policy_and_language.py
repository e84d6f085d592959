"""What an assignment shows its students (feedback: full, location or score; the worked
solution after the due time or not), and the language each user reads the service in.

Existing assignments keep what they showed before: full feedback, no solution.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FEEDBACK = ("full", "location", "score")
LANGUAGES = ("en", "pt_BR")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    # The server defaults fill the rows there are; the models give new rows their
    # values, so the defaults go again once the columns are filled.
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("feedback", sa.String(length=20), nullable=False,
                                   server_default="full"))
        batch.add_column(sa.Column("solution_after_due", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.create_check_constraint(op.f("ck_assignments_feedback"), _in("feedback", FEEDBACK))
    with op.batch_alter_table("assignments") as batch:
        batch.alter_column("feedback", server_default=None)
        batch.alter_column("solution_after_due", server_default=None)
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=10), nullable=True))
        batch.create_check_constraint(
            op.f("ck_users_language_supported"),
            f"language IS NULL OR {_in('language', LANGUAGES)}")


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("ck_users_language_supported"), type_="check")
        batch.drop_column("language")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_constraint(op.f("ck_assignments_feedback"), type_="check")
        batch.drop_column("solution_after_due")
        batch.drop_column("feedback")
