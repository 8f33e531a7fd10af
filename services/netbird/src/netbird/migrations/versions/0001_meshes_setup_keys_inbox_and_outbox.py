"""meshes, setup keys, inbox and outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-29 21:10:00
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
        "meshes",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("pending", sa.String(length=20), nullable=True),
        sa.Column("group_id", sa.String(length=100), nullable=True),
        sa.Column("setup_key_id", sa.String(length=100), nullable=True),
        sa.Column("route_id", sa.String(length=100), nullable=True),
        sa.Column("policy_id", sa.String(length=100), nullable=True),
        sa.Column("subnet", sa.String(length=50), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("instance_id"),
    )
    op.create_index("ix_meshes_user_id", "meshes", ["user_id"])
    op.create_table(
        "setup_keys",
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
    )
    op.create_index("ix_setup_keys_instance_id", "setup_keys", ["instance_id"])
    op.create_index("ix_setup_keys_expires_at", "setup_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_table("setup_keys")
    op.drop_table("meshes")
    drop_inbox_and_outbox()
