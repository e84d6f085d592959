"""Which attempt counts for an assignment (in the gradebook and in the score an LMS
receives): the best one, or the latest. Existing assignments keep the best.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The server default fills the rows there are; the model gives new rows their value.
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("score_policy", sa.String(length=20), nullable=False,
                                   server_default="best"))
        batch.create_check_constraint(op.f("ck_assignments_score_policy"),
                                      "score_policy IN ('best', 'latest')")
    with op.batch_alter_table("assignments") as batch:
        batch.alter_column("score_policy", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.drop_constraint(op.f("ck_assignments_score_policy"), type_="check")
        batch.drop_column("score_policy")
