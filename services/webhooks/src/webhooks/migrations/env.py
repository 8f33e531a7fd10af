"""Alembic environment of the webhooks service: its own tables and version table."""

from sqlmodel import SQLModel

from claudecloud_common.migrations import run_env
from webhooks import models  # noqa: F401  (registers the tables)

run_env(SQLModel.metadata, tables={"webhook_endpoints", "webhook_deliveries"})
