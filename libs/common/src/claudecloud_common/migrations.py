"""Alembic per service: each service keeps its own scripts and its own version table.

A service's ``migrations/env.py`` is two lines that call :func:`run_env`; the service (and
``make run``) upgrades with :func:`upgrade_to_head` before it starts handling anything. A worker's
first revision creates the inbox and outbox with :func:`create_inbox_and_outbox` (and drops them
with :func:`drop_inbox_and_outbox`), so every worker has the same two tables; the gateway, which
consumes no command and emits no event of its own, has neither.
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = [
    "add_outbox_trace_parent",
    "create_inbox_and_outbox",
    "drop_inbox_and_outbox",
    "run_env",
    "upgrade_to_head",
]


def _config(database_url: str, script_location: Path, version_table: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["version_table"] = version_table
    return config


async def upgrade_to_head(database_url: str, script_location: Path, version_table: str) -> None:
    """Bring the service's database to the newest schema (safe to run on every start)."""
    config = _config(database_url, script_location, version_table)
    await asyncio.to_thread(command.upgrade, config, "head")


def run_env(metadata: MetaData, tables: set[str], *, messaging: bool = True) -> None:
    """The body of every service's ``env.py``: migrate only the tables this service owns
    (``tables``, plus the inbox and outbox every worker has; ``messaging=False`` for a service
    that consumes no command and emits no event of its own, as the gateway)."""
    from . import inbox, outbox  # noqa: F401  (registers both tables on SQLModel's metadata)

    if messaging:
        tables = tables | {"inbox", "outbox"}
    config = context.config
    version_table = config.attributes.get("version_table", "alembic_version")
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None

    def include_object(obj: object, name: str | None, type_: str, *_: object) -> bool:
        return type_ != "table" or name in tables

    def migrate(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            include_object=include_object,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Replicas starting together upgrade one database: one at a time, each seeing
                # what the one before committed (the lock ends with this transaction).
                key = zlib.crc32(version_table.encode())
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run())


def create_inbox_and_outbox() -> None:
    """Inside a migration's ``upgrade()``: the inbox and outbox tables every service has
    (:mod:`claudecloud_common.inbox`, :mod:`claudecloud_common.outbox`), as they are now.

    When these tables change, this makes the new shape for services created after the change,
    and an idempotent helper (such as :func:`add_outbox_trace_parent`) brings the tables of
    services made before it up to date in a later revision of theirs."""
    op.create_table(
        "inbox",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("consumer", sa.String(length=200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "consumer"),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("correlation_id", sa.String(length=200), nullable=True),
        sa.Column("trace_parent", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("message_id"),
    )


def add_outbox_trace_parent() -> None:
    """Inside a later ``upgrade()``: the outbox's ``trace_parent`` column, unless present."""
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("outbox")}
    if "trace_parent" not in columns:
        with op.batch_alter_table("outbox") as batch:
            batch.add_column(sa.Column("trace_parent", sa.String(length=64), nullable=True))


def drop_inbox_and_outbox() -> None:
    """Inside a migration's ``downgrade()``: the reverse of :func:`create_inbox_and_outbox`."""
    op.drop_table("outbox")
    op.drop_table("inbox")
