"""Alembic environment of the gateway: its own tables (no inbox or outbox: it consumes no
command and emits no event of its own) and version table."""

from sqlmodel import SQLModel

from claudecloud_common.migrations import run_env
from gateway.auth import models as auth_models  # noqa: F401  (registers the tables)
from gateway.credentials import models as credential_models  # noqa: F401
from gateway.git import models as git_models  # noqa: F401
from gateway.workspace import models as workspace_models  # noqa: F401

run_env(
    SQLModel.metadata,
    tables={
        "users",
        "used_magic_links",
        "ws_tickets",
        "claude_credentials",
        "git_accounts",
        "git_authorizations",
    },
    messaging=False,
)
