"""outbox rows keep the span that wrote them

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 21:10:00
"""

from collections.abc import Sequence

from claudecloud_common.migrations import add_outbox_trace_parent

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_trace_parent()


def downgrade() -> None:
    pass  # the column is harmless to keep; the first revision drops the table
