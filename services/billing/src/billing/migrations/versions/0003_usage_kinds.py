"""usage ledger: running and frozen time apart, and what each entry counts against the plan

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage_ledger", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=10), nullable=False, server_default="running")
        )
        batch_op.add_column(
            sa.Column("billed_seconds", sa.Float(), nullable=False, server_default="0")
        )
    # Every entry so far is running time, which counts in full.
    op.execute("UPDATE usage_ledger SET billed_seconds = seconds")


def downgrade() -> None:
    with op.batch_alter_table("usage_ledger", schema=None) as batch_op:
        batch_op.drop_column("billed_seconds")
        batch_op.drop_column("kind")
