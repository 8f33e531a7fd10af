"""Alembic environment of the activity service: its own tables and version table."""

from sqlmodel import SQLModel

from activity import models  # noqa: F401  (registers the tables)
from claudecloud_common.migrations import run_env

run_env(SQLModel.metadata, tables={"instance_activity", "activity_decisions"})
