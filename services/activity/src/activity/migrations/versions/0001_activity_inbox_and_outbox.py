"""instance activity, decisions, inbox and outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-29 20:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from claudecloud_common.migrations import create_inbox_and_outbox, drop_inbox_and_outbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    create_inbox_and_outbox()
    op.create_table(
        "instance_activity",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        _when("status_at"),
        _when("run_started_at"),
        _when("next_poll_at"),
        sa.Column("claimed_interval", sa.Integer(), nullable=True),
        _when("last_polled_at", nullable=True),
        _when("last_activity_at"),
        sa.Column("last_activity_reason", sa.String(length=40), nullable=False),
        _when("last_human_input_at"),
        _when("last_turn_ended_at", nullable=True),
        _when("deadline_at"),
        sa.Column("idle_recorded", sa.Boolean(), nullable=False),
        _when("pause_requested_at", nullable=True),
        sa.Column("condition", sa.String(length=20), nullable=True),
        sa.Column("condition_detail", sa.String(length=500), nullable=True),
        _when("condition_since", nullable=True),
        sa.Column("failed_polls", sa.Integer(), nullable=False),
        sa.Column("agent_boot_id", sa.String(length=64), nullable=True),
        sa.Column("agent_inputs", sa.Integer(), nullable=False),
        sa.Column("agent_turns_started", sa.Integer(), nullable=False),
        sa.Column("agent_turns_ended", sa.Integer(), nullable=False),
        sa.Column("oom_kills", sa.Integer(), nullable=True),
        sa.Column("machine_restarts", sa.Integer(), nullable=True),
        sa.Column("processes", sa.Integer(), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("instance_id"),
    )
    with op.batch_alter_table("instance_activity", schema=None) as batch_op:
        batch_op.create_index("ix_instance_activity_user_id", ["user_id"])
        batch_op.create_index("ix_instance_activity_status", ["status"])
        batch_op.create_index("ix_instance_activity_next_poll_at", ["next_poll_at"])
    op.create_table(
        "activity_decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        _when("decided_at"),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        _when("deadline_at", nullable=True),
        _when("recorded_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("activity_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_activity_decisions_instance_id", ["instance_id"])
        batch_op.create_index("ix_activity_decisions_decided_at", ["decided_at"])


def downgrade() -> None:
    op.drop_table("activity_decisions")
    op.drop_table("instance_activity")
    drop_inbox_and_outbox()
