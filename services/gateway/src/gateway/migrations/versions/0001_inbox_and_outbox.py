"""inbox and outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-27 11:13:46.752998
"""

from collections.abc import Sequence

from claudecloud_common.migrations import create_inbox_and_outbox, drop_inbox_and_outbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_inbox_and_outbox()


def downgrade() -> None:
    drop_inbox_and_outbox()
