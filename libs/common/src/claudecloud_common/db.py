"""The async database helper: one engine per process from ``DATABASE_URL``.

``postgresql+asyncpg://`` in production and tests, ``sqlite+aiosqlite:///`` for the embedded
default. The edge (an HTTP request or a bus handler) opens a transaction with
:meth:`Database.transaction`, or :meth:`Database.read` when it only reads; services and
repositories only use the session they are given.

A read refuses to write on both backends alike, so a write in the wrong kind of session fails in
the unit tier and never only in production: reads go through their own engine, whose connections
the database itself holds read-only (``default_transaction_read_only`` on PostgreSQL, given when
the connection opens; ``PRAGMA query_only`` on SQLite), and a statement that writes is refused
before it is sent.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Row, Table, event, insert, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeDecorator
from sqlmodel.ext.asyncio.session import AsyncSession

from .settings import ServiceSettings

__all__ = [
    "AsyncSession",
    "Database",
    "NoUnitOfWork",
    "Timeouts",
    "UTCDateTime",
    "WriteInRead",
    "Written",
    "defer_insert",
]

_DEFERRED = "claudecloud.deferred"
_UNIT_OF_WORK = "claudecloud.unit_of_work"


class NoUnitOfWork(RuntimeError):
    """Rows for the inbox or outbox were written on a session that no
    :meth:`Database.transaction` owns: nothing would ever insert them, so refuse at once."""


class WriteInRead(RuntimeError):
    """A write inside :meth:`Database.read`: reads never write; open a
    :meth:`Database.transaction` for work that changes rows."""


Written = dict[str, Sequence[Row[Any]]]
"""What a transaction inserted through :func:`defer_insert`, by table name."""


def defer_insert(
    session: AsyncSession, table: Table, values: dict[str, Any], *, announce: bool = False
) -> None:
    """Insert ``values`` into ``table`` just before the session's transaction commits, in one
    statement with every other row deferred to that table (the inbox and outbox use it: cheaper
    than the ORM's unit of work on every command). ``announce`` hands the inserted rows to the
    after-commit hooks (the outbox's relay publishes them).

    Raises :class:`NoUnitOfWork` unless ``session`` is inside :meth:`Database.transaction`, the
    only place that writes deferred rows: an event or an inbox row must never vanish silently.
    """
    if not session.info.get(_UNIT_OF_WORK):
        raise NoUnitOfWork(
            f"a row for {table.name!r} was written outside Database.transaction(); "
            "open the unit of work with `async with db.transaction() as session:`"
        )
    deferred: dict[tuple[Table, bool], list[dict[str, Any]]] = session.info.setdefault(
        _DEFERRED, {}
    )
    deferred.setdefault((table, announce), []).append(values)


async def _write_deferred(session: AsyncSession) -> Written:
    written: Written = {}
    deferred = session.info.pop(_DEFERRED, {})
    if deferred:
        connection = await session.connection()  # the session's own transaction, Core level
        for (table, announce), rows in deferred.items():
            statement = _insert(table, returning=announce)
            # One row (the usual case) as a plain execute: the many-rows path costs more.
            result = await connection.execute(statement, rows[0] if len(rows) == 1 else rows)
            if announce:
                written[table.name] = result.all()
    return written


@functools.cache
def _insert(table: Table, *, returning: bool) -> Insert:
    return insert(table).returning(*table.c) if returning else insert(table)


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


@dataclass(frozen=True)
class Timeouts:
    """How long the database may take before a caller gets an error instead of an answer
    (PostgreSQL; SQLite is a local file and waits on its own busy timeout)."""

    connect: float = 5.0
    command: float = 10.0
    pool: float = 5.0

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Timeouts:
        return cls(
            connect=settings.db_connect_timeout_seconds,
            command=settings.db_command_timeout_seconds,
            pool=settings.db_pool_timeout_seconds,
        )


class Database:
    """An engine, a session factory, and hooks that run after each successful commit."""

    def __init__(self, url: str, *, pool_size: int = 10, timeouts: Timeouts | None = None) -> None:
        self.url = url
        timeouts = timeouts or Timeouts()
        self.engine = _make_engine(url, pool_size=pool_size, timeouts=timeouts)
        self.reader = _make_engine(url, pool_size=pool_size, timeouts=timeouts, read_only=True)
        """Connections that cannot write (opened on first use, so a service that never reads
        this way holds none)."""
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._after_commit: list[Callable[[Written], None]] = []

    @classmethod
    def for_service(cls, settings: ServiceSettings) -> Database:
        """The service's database, with the pool size and timeouts its settings give."""
        return cls(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            timeouts=Timeouts.from_settings(settings),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def on_commit(self, hook: Callable[[Written], None]) -> None:
        """After every committed transaction, call ``hook`` with the rows it inserted through
        :func:`defer_insert` (the outbox relay publishes the outbox's at once)."""
        self._after_commit.append(hook)

    @asynccontextmanager
    async def transaction(self, *, notify: bool = True) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back if it raises."""
        async with self.sessions() as session, session.begin():
            session.info[_UNIT_OF_WORK] = True
            try:
                yield session
                written = await _write_deferred(session)
            finally:
                session.info.pop(_UNIT_OF_WORK, None)
        if notify and written:
            for hook in self._after_commit:
                hook(written)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries only: any write raises (:class:`WriteInRead`, or the database's
        own refusal). On PostgreSQL each query runs on its own, in autocommit (no BEGIN/ROLLBACK
        round trips around a single SELECT); on SQLite in a transaction that takes no write lock.
        """
        async with AsyncSession(bind=self.reader, expire_on_commit=False) as session:
            yield session
            if session.new or session.dirty or session.deleted:  # nothing would ever flush them
                raise WriteInRead(
                    "rows were changed inside Database.read(), which never writes; "
                    "open the unit of work with `async with db.transaction() as session:`"
                )

    async def ping(self) -> None:
        """Raise if the database does not answer."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        await self.reader.dispose()


def _make_engine(
    url: str, *, pool_size: int, timeouts: Timeouts, read_only: bool = False
) -> AsyncEngine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, read_only=read_only)
    else:
        engine = _postgres_engine(url, pool_size=pool_size, timeouts=timeouts, read_only=read_only)
    if read_only:
        event.listen(engine.sync_engine, "before_execute", _refuse_writes)
    return engine


def _sqlite_engine(url: str, *, read_only: bool) -> AsyncEngine:
    database = make_url(url).database
    if not database or database == ":memory:":
        # Reads have an engine of their own, and each would see its own empty database.
        raise ValueError("an in-memory SQLite database is one per connection: name a file")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})
    on_connect = functools.partial(_sqlite_on_connect, read_only=read_only)
    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin_read if read_only else _sqlite_begin)
    return engine


def _postgres_engine(
    url: str, *, pool_size: int, timeouts: Timeouts, read_only: bool
) -> AsyncEngine:
    # No pre-ping (a round trip on every checkout): a connection the server dropped fails
    # its statement once, SQLAlchemy discards the pool, and the caller's retry succeeds.
    # asyncpg's own timeouts: without them a database that stops answering (a partition)
    # holds every caller until the kernel gives up on the connection, many minutes later.
    connect_args: dict[str, Any] = {
        "timeout": timeouts.connect,
        "command_timeout": timeouts.command,
    }
    options: dict[str, Any] = {}
    if read_only:
        # Sent with the connection's start-up message, so it costs no round trip; autocommit
        # sends no BEGIN/ROLLBACK around each read.
        connect_args["server_settings"] = {"default_transaction_read_only": "on"}
        options["isolation_level"] = "AUTOCOMMIT"
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        pool_timeout=timeouts.pool,
        connect_args=connect_args,
        **options,
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any, *, read_only: bool) -> None:
    # Let SQLAlchemy drive transactions (the "begin" listeners below say how each one starts).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL stays set in the file: set it once. Asking it again of a file in use by another
    # connection can answer "database is locked" at once, whatever the busy timeout.
    cursor.execute("PRAGMA journal_mode")
    if str(cursor.fetchone()[0]).lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    if read_only:
        cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Take the write lock up front, so two writers queue on the busy timeout instead of failing
    # on a lock upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin_read(conn: Any) -> None:
    # A snapshot for the reads that follow, without the write lock (WAL: writers go on).
    conn.exec_driver_sql("BEGIN")


def _refuse_writes(
    _conn: Any, statement: Any, _multiparams: Any, _params: Any, _options: Any
) -> None:
    # INSERT/UPDATE/DELETE, from the ORM's flush or written out, refused before it is sent;
    # raw SQL text the database itself refuses.
    if getattr(statement, "is_dml", False):
        raise WriteInRead(
            "a write inside Database.read(), which never writes; "
            "open the unit of work with `async with db.transaction() as session:`"
        )
