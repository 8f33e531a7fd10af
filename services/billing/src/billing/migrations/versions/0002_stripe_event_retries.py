"""stored Stripe events: when to try again, when billing gave up; ``created`` as a big integer

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stripe_events") as batch:
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))
        # A 32-bit column ends in 2038.
        batch.alter_column("created", type_=sa.BigInteger(), existing_nullable=False)
        batch.create_index("ix_stripe_events_parked_at", ["parked_at"])


def downgrade() -> None:
    with op.batch_alter_table("stripe_events") as batch:
        batch.drop_index("ix_stripe_events_parked_at")
        batch.alter_column("created", type_=sa.Integer(), existing_nullable=False)
        batch.drop_column("parked_at")
        batch.drop_column("next_attempt_at")
