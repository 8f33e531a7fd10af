"""The gateway's database holds its own tables and nothing else: no inbox or outbox (it consumes
no command and emits no event of its own), and a database made when it still had them loses
them on the next start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlmodel import SQLModel

from claudecloud_common.db import Database
from claudecloud_common.inbox import INBOX
from claudecloud_common.migrations import upgrade_to_head
from claudecloud_common.outbox import OUTBOX
from gateway.app import MIGRATIONS

VERSION_TABLE = "alembic_version_gateway"
OWN = {
    "users",
    "used_magic_links",
    "ws_tickets",
    "claude_credentials",
    "git_accounts",
    "git_authorizations",
    VERSION_TABLE,
}


async def _tables(url: str) -> set[str]:
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await database.dispose()


async def test_a_new_database_has_the_gateways_tables_only(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    await upgrade_to_head(url, MIGRATIONS, VERSION_TABLE)
    assert await _tables(url) == OWN


async def test_the_inbox_and_outbox_of_an_older_database_are_dropped(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["version_table"] = VERSION_TABLE
    await asyncio.to_thread(command.upgrade, config, "0005")
    database = Database(url)  # as the first revisions left it: both tables, empty
    async with database.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all, tables=[INBOX, OUTBOX])
    await database.dispose()
    assert {"inbox", "outbox"} <= await _tables(url)

    await upgrade_to_head(url, MIGRATIONS, VERSION_TABLE)

    assert await _tables(url) == OWN
