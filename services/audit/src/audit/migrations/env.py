"""Alembic environment of the audit service: its own tables and version table."""

from sqlmodel import SQLModel

from audit import models  # noqa: F401  (registers the tables)
from claudecloud_common.migrations import run_env

run_env(SQLModel.metadata, tables={"audit_records", "audit_chains"})
