"""Alembic environment of the provisioner: its own tables and version table."""

from sqlmodel import SQLModel

from claudecloud_common.migrations import run_env
from provisioner import models  # noqa: F401  (registers the tables)

run_env(SQLModel.metadata, tables={"instances", "entitlements", "checkpoints", "pool_slots"})
