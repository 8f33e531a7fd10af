"""instances, inbox and outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-27 11:12:37.286824
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from claudecloud_common.migrations import create_inbox_and_outbox, drop_inbox_and_outbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_inbox_and_outbox()
    op.create_table(
        "instances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_id", sa.String(length=200), nullable=True),
        sa.Column("host", sa.String(length=200), nullable=True),
        sa.Column("agent_secret", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("pending_command_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instances_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_instances_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "uq_instances_one_live_per_user",
            ["user_id"],
            unique=True,
            sqlite_where=sa.text(
                "status IN ('destroying', 'paused', 'pausing', 'provisioning', 'running', 'waking')"
            ),
            postgresql_where=sa.text(
                "status IN ('destroying', 'paused', 'pausing', 'provisioning', 'running', 'waking')"
            ),
        )


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_instances_one_live_per_user",
            sqlite_where=sa.text(
                "status IN ('destroying', 'paused', 'pausing', 'provisioning', 'running', 'waking')"
            ),
            postgresql_where=sa.text(
                "status IN ('destroying', 'paused', 'pausing', 'provisioning', 'running', 'waking')"
            ),
        )
        batch_op.drop_index(batch_op.f("ix_instances_user_id"))
        batch_op.drop_index(batch_op.f("ix_instances_updated_at"))

    op.drop_table("instances")
    drop_inbox_and_outbox()
