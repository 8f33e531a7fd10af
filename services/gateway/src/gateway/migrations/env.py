"""Alembic environment of the gateway: its own tables (and the inbox and outbox) and version
table."""

from sqlmodel import SQLModel

from claudecloud_common.migrations import run_env
from gateway.auth import models as auth_models  # noqa: F401  (registers the tables)
from gateway.workspace import models as workspace_models  # noqa: F401

run_env(SQLModel.metadata, tables={"users", "used_magic_links", "ws_tickets"})
