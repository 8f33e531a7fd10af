"""Alembic environment of billing: its own tables and version table."""

from sqlmodel import SQLModel

from billing import models  # noqa: F401  (registers the tables)
from claudecloud_common.migrations import run_env

run_env(SQLModel.metadata, tables={"customers", "subscriptions", "stripe_events", "usage_ledger"})
