"""the frozen tier: when an instance froze, its metered frozen time, the memory it holds, whether
its provider keeps memory, and one memory relief per interval

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instance_activity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keeps_memory", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("frozen_metered_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("memory_bytes", sa.BigInteger(), nullable=True))
    op.create_table(
        "memory_reliefs",
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_bytes", sa.BigInteger(), nullable=False),
        sa.Column("minimum_bytes", sa.BigInteger(), nullable=False),
        sa.Column("stopped", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("interval"),
    )
    with op.batch_alter_table("memory_reliefs", schema=None) as batch_op:
        batch_op.create_index("ix_memory_reliefs_decided_at", ["decided_at"])


def downgrade() -> None:
    op.drop_table("memory_reliefs")
    with op.batch_alter_table("instance_activity", schema=None) as batch_op:
        batch_op.drop_column("memory_bytes")
        batch_op.drop_column("frozen_metered_until")
        batch_op.drop_column("frozen_at")
        batch_op.drop_column("keeps_memory")
