"""Claude's spend per day and source last sent to billing, per instance

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instance_activity", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claude_spend_seen", sa.Text(), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("instance_activity", schema=None) as batch_op:
        batch_op.drop_column("claude_spend_seen")
