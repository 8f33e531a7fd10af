"""The async database helper: one engine per process from ``DATABASE_URL``.

``postgresql+asyncpg://`` in production and tests, ``sqlite+aiosqlite:///`` for the embedded
default. The edge (an HTTP request or a bus handler) opens a transaction with
:meth:`Database.transaction`; services and repositories only use the session they are given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["OUTBOX_KEY", "AsyncSession", "Database", "UTCDateTime"]

OUTBOX_KEY = "claudecloud.outbox"
"""Where a session keeps the outbox rows it wrote, for the after-commit hook."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored with its zone and always read back as an aware UTC datetime.

    SQLite keeps no zone; without this, values read back naive and compare wrongly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Database:
    """An engine, a session factory, and hooks that run after each successful commit."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = _make_engine(url, pool_size=pool_size)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._after_commit: list[Callable[[list[object]], None]] = []

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def on_commit(self, hook: Callable[[list[object]], None]) -> None:
        """After every committed transaction, call ``hook`` with the outbox rows it wrote (the
        outbox relay publishes them at once)."""
        self._after_commit.append(hook)

    @asynccontextmanager
    async def transaction(self, *, notify: bool = True) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back if it raises."""
        async with self.sessions() as session:
            async with session.begin():
                yield session
            written: list[object] = session.info.pop(OUTBOX_KEY, [])
        if notify and written:
            for hook in self._after_commit:
                hook(written)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries only. On Postgres it runs in autocommit (no BEGIN/ROLLBACK
        round trips around a single SELECT); on SQLite it is an ordinary transaction."""
        if self.is_sqlite:
            async with self.transaction(notify=False) as session:
                yield session
            return
        async with self.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(bind=autocommit, expire_on_commit=False) as session:
                yield session

    async def ping(self) -> None:
        """Raise if the database does not answer."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _make_engine(url: str, *, pool_size: int) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No pre-ping (a round trip on every checkout): a connection the server dropped fails
        # its statement once, SQLAlchemy discards the pool, and the caller's retry succeeds.
        return create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy drive transactions, then take the write lock up front (BEGIN IMMEDIATE) so two
    # writers queue on the busy timeout instead of failing on a lock upgrade.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
