"""Alembic environment of the netbird service: its own tables and version table."""

from sqlmodel import SQLModel

from claudecloud_common.migrations import run_env
from netbird import models  # noqa: F401  (registers the tables)

run_env(SQLModel.metadata, tables={"meshes", "setup_keys"})
