"""a failed instance says why in a type (``failure``), beside the sentence in ``reason``

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("failure", sa.String(length=30), nullable=True))
    # Rows that failed before codes existed: the provider's error is the honest default.
    op.execute("UPDATE instances SET failure = 'provider_error' WHERE status = 'failed'")


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("failure")
