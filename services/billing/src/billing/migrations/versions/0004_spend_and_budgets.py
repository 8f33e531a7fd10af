"""spend and budgets: each sample's observed time and day, the periods a user has had, Claude's
daily totals, budgets, the alerts sent and what a budget paused

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("usage_ledger") as batch:
        batch.add_column(sa.Column("observed_at", UTC, nullable=True))
        batch.add_column(sa.Column("day", sa.Date(), nullable=True))
        batch.create_index("ix_usage_ledger_user_day", ["user_id", "day"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE usage_ledger SET day = (recorded_at AT TIME ZONE 'UTC')::date")
    else:
        op.execute("UPDATE usage_ledger SET day = date(recorded_at)")
    op.create_table(
        "usage_days",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("billed_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day", "kind"),
    )
    op.execute(
        "INSERT INTO usage_days (user_id, day, kind, seconds, billed_seconds) "
        "SELECT user_id, day, kind, sum(seconds), sum(billed_seconds) FROM usage_ledger "
        "GROUP BY user_id, day, kind"
    )
    op.create_table(
        "billing_periods",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", UTC, nullable=False),
        sa.Column("period_end", UTC, nullable=True),
        sa.Column("subscription_id", sa.String(length=100), nullable=False),
        sa.Column("plan", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "period_start"),
    )
    # The periods known so far: each subscription's current one.
    op.execute(
        "INSERT INTO billing_periods (user_id, period_start, period_end, subscription_id, plan) "
        "SELECT user_id, current_period_start, current_period_end, id, plan FROM subscriptions "
        "WHERE current_period_start IS NOT NULL"
    )
    op.create_table(
        "claude_spend",
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("metered_cents", sa.Integer(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=100), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("instance_id", "day", "source"),
    )
    op.create_index("ix_claude_spend_user_day", "claude_spend", ["user_id", "day"])
    op.create_table(
        "budgets",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("monthly_limit_usd", sa.Float(), nullable=False),
        sa.Column("hard_stop", sa.Boolean(), nullable=False),
        sa.Column("reached_period_start", UTC, nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "budget_alerts",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", UTC, nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("spent_usd", sa.Float(), nullable=False),
        sa.Column("sent_at", UTC, nullable=False),
        # One alert per user, period and threshold, whatever the replicas and redeliveries.
        sa.PrimaryKeyConstraint("user_id", "period_start", "threshold"),
    )
    op.create_table(
        "budget_pauses",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("instance_id", sa.Uuid(), nullable=False),
        sa.Column("paused_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "instance_id"),
    )


def downgrade() -> None:
    op.drop_table("budget_pauses")
    op.drop_table("budget_alerts")
    op.drop_table("budgets")
    op.drop_index("ix_claude_spend_user_day", table_name="claude_spend")
    op.drop_table("claude_spend")
    op.drop_table("billing_periods")
    op.drop_table("usage_days")
    with op.batch_alter_table("usage_ledger") as batch:
        batch.drop_index("ix_usage_ledger_user_day")
        batch.drop_column("day")
        batch.drop_column("observed_at")
