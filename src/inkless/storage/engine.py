"""The async engine and session factory, with SQLite tuned for a durable, concurrent store."""

from __future__ import annotations

import asyncio
import collections
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import EMPTY_DICT

from inkless.config import Config

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # WAL + NORMAL is durable against process crashes (kill -9); see README "Guarantees".
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    # Checkpoints truncate the WAL back to this size, so a burst does not leave it large.
    "PRAGMA journal_size_limit=67108864",
    "PRAGMA foreign_keys=ON",
)


class _OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor that runs a statement and fetches its rows in one hand-off to aiosqlite's
    thread. SQLAlchemy's adapter makes three or four (open a cursor, execute, fetch, close),
    each a queue put, a thread wake-up and a wake-up of the event loop: a one-row select cost
    226 µs in the driver alone, as much as SQLAlchemy's own work, and a document's processing
    runs about 24 statements (issue 21). Results are buffered as the adapter buffers them."""

    __slots__ = ("_description", "_rowcount", "_lastrowid", "_arraysize")

    def __init__(self, adapt_connection: Any) -> None:  # no aiosqlite cursor: no hand-off here
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._arraysize = 1  # sqlite3's default
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass  # sqlite3 ignores them too

    async def _run(self, operation: str, parameters: Any, many: bool) -> None:
        driver = self._connection._conn  # the sqlite3 connection, used only in aiosqlite's thread
        async with self._adapt_connection._execute_mutex:
            self._description, rows, self._rowcount, self._lastrowid = await self._connection._execute(
                _execute, driver, operation, parameters, many)
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        await self._run(operation, seq_of_parameters, many=True)

    async def _async_soft_close(self) -> None:
        pass  # nothing is open in the driver

    def close(self) -> None:
        self._rows.clear()


def _execute(driver: sqlite3.Connection, operation: str, parameters: Any,
             many: bool) -> tuple[Any, list[Any], int, int | None]:
    """Run a statement on the sqlite3 connection and fetch all its rows."""
    cursor = driver.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneHopCursor


# On an inline engine, a statement goes to the driver's thread after all when it writes a value
# this big or this many rows: copying megabytes, or ten thousand inserts, is no work for the loop.
INLINE_VALUE = 64 * 1024
INLINE_ROWS = 100
# How long an inline connection waits for SQLite's write lock in all (as busy_timeout does).
BUSY_WAIT = 30.0


class _InlineCursor(_OneHopCursor):
    """A cursor that runs a statement on the event loop's own thread (issue 21).

    SQLite is a library: a worker's statement takes 20-150 µs in it, and handing it to
    aiosqlite's thread and back costs more than that (a document's processing spent more time
    in the hand-offs than in SQLite). The workers' engine (`create_engine(inline=True)`) runs
    its statements here instead, so the rule that keeps the loop free is that SQLite never
    waits on this thread: the connection's busy timeout is 0, and when the write lock is
    taken (BEGIN IMMEDIATE answers SQLITE_BUSY) the cursor sleeps on the loop, 1 ms doubling
    to 50 ms, and tries again, for BUSY_WAIT seconds in all. Each statement still gives the
    loop one turn before it runs, so whatever else is ready runs between statements.
    Statements with big values or many rows, and the COMMIT (which may run a WAL checkpoint,
    with its fsync), still go to the thread."""

    __slots__ = ()

    async def _run(self, operation: str, parameters: Any, many: bool) -> None:
        # A turn of the loop first, as the hand-off gave: SMTP sessions answer between a
        # document's statements, and the workers see mail arriving (bridge/pressure.py).
        await asyncio.sleep(0)
        driver = self._connection._conn
        here = not _heavy(parameters, many)
        pause, waited = 0.001, 0.0
        while True:
            try:
                if not here:
                    await super()._run(operation, parameters, many)
                    return
                self._description, rows, self._rowcount, self._lastrowid = _execute(
                    driver, operation, parameters, many)
                self._rows = collections.deque(rows)
                return
            except sqlite3.OperationalError as error:
                # Only a statement that began nothing may be tried again: inside a transaction
                # (which BEGIN IMMEDIATE opened with the write lock) SQLite does not answer BUSY.
                if not _sqlite_busy(error) or driver.in_transaction or waited >= BUSY_WAIT:
                    raise
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, 0.05)


def _heavy(parameters: Any, many: bool) -> bool:
    """Whether a statement's values are too much work to copy on the event loop."""
    if parameters is None:
        return False
    if many:
        return len(parameters) > INLINE_ROWS or any(_heavy(row, False) for row in parameters)
    values = parameters.values() if isinstance(parameters, dict) else parameters
    return any(isinstance(value, (bytes, str, memoryview)) and len(value) > INLINE_VALUE for value in values)


class _InlineConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _InlineCursor

    def rollback(self) -> None:
        # Ending a transaction without writing anything out needs no thread either (the pool
        # rolls back every connection it gets back). Unless a statement or commit is still in
        # the driver's thread (a task cancelled while it waited): then after it, in the thread.
        driver = self._connection._connection
        if driver is None:
            return
        if self._execute_mutex.locked():
            super().rollback()
            return
        try:
            driver.rollback()
        except Exception as error:
            self._handle_exception(error)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any, *, inline: bool = False) -> None:
    # Statements go to the driver's thread in one hand-off each (_OneHopCursor), or run on the
    # loop's thread (_InlineCursor); the classes differ from the adapter's only in the cursor
    # they make (and the inline one's rollback).
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
        dbapi_connection.__class__ = _InlineConnection if inline else _OneHopConnection
    # Transactions are begun by _begin_immediate, not by the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS + (("PRAGMA busy_timeout=0",) if inline else ()):
        cursor.execute(pragma)
    cursor.close()


# The execution option that marks a connection of `reading()` on SQLite.
_READING = "inkless_reading"


def _begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads, then writes, fails at once with SQLITE_BUSY when
    # another connection wrote in between; taking the write lock up front waits instead.
    # A connection that only reads (`reading`) begins nothing: each statement stands alone.
    if not connection.get_execution_options().get(_READING):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@asynccontextmanager
async def reading(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncConnection]:
    """A connection for a look-up that writes nothing and needs no transaction around its
    statements (each one sees a consistent state on its own): on SQLite it neither takes nor
    waits for the write lock, on PostgreSQL it saves the BEGIN and ROLLBACK round trips. For
    the hot read paths (a feed's 304); anything that writes uses a session."""
    engine: AsyncEngine = sessions.kw["bind"]
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # Not isolation_level: pysqlite's reset would leave the driver's own transaction
            # handling on, which this engine turns off (_set_sqlite_pragmas).
            yield await connection.execution_options(**{_READING: True})
        else:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")


def create_engine(config: Config, *, inline: bool = False) -> AsyncEngine:
    """Create the engine for config.database, making SQLite's folder if it is missing.

    inline: on SQLite, statements run on the event loop's thread (_InlineCursor), for the
    workers' short statements; the web's (a search, a long listing) stay in the driver's
    thread, where a slow one holds up nobody else. No difference on PostgreSQL."""
    path = config.sqlite_path
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # No prepared-statement cache: a cached statement keeps a copy of the values last bound
        # to it, and those are raw messages and files (25 MB each, per pooled connection,
        # until the statement is used again). Preparing anew costs ~3 µs a statement.
        # check_same_thread: an inline connection is used on the loop's thread and, for its
        # heavy statements and commits, on aiosqlite's (one at a time).
        engine = create_async_engine(config.database_url,
                                     connect_args={"cached_statements": 0, "check_same_thread": False})
        event.listen(engine.sync_engine, "connect", partial(_set_sqlite_pragmas, inline=inline))
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    return create_async_engine(config.database_url, pool_size=10, max_overflow=10, pool_pre_ping=True)


# SQLSTATEs that say "try again later", not "this statement is wrong": class 08 (connection
# exception), 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now, and class 40
# (transaction rollback: serialization failure, deadlock detected), which PostgreSQL raises in
# one of two transactions that wanted the same rows in a different order.
_TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03", "40")


def transient_database_error(exc: BaseException) -> bool:
    """Whether exc means the database could not do it now (a restart, a failover, a network cut,
    a deadlock with another transaction): worth trying again later, and no fault of the work at
    hand."""
    if isinstance(exc, DBAPIError):
        if _sqlite_busy(exc.orig):
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        return exc.connection_invalidated or sqlstate.startswith(_TRANSIENT_SQLSTATES)
    # A refused or reset connection comes through the driver as it is; a full pool as PoolTimeout.
    return isinstance(exc, (ConnectionError, PoolTimeout))


def _sqlite_busy(error: BaseException | None) -> bool:
    # SQLITE_BUSY: another connection held the write lock for the whole busy timeout. The
    # work is not at fault; it is tried again (and counted as an attempt).
    message = str(error)
    return isinstance(error, sqlite3.OperationalError) and (
        "database is locked" in message or "database is busy" in message)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
