"""Big values written into and read out of SQLite a block at a time.

Bound as a parameter, a blob is copied twice before SQLite writes it (the bound value, then
the record), and a selected blob twice on the way out (SQLite gathers its overflow pages,
then Python copies them): a 25 MB body cost 50 MB more than itself each time. SQLite's
incremental blob I/O writes into a zeroblob and reads into one buffer, a page at a time.
It runs on aiosqlite's own thread, on the session's connection, inside its transaction.
PostgreSQL (and any other driver) takes the ordinary way: use_blobs() says which.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

# A value at least this big is written and read a block at a time on SQLite.
BLOB_APART = 256 * 1024
BLOCK = 1024 * 1024


async def _sqlite(session: AsyncSession) -> Any | None:
    """The session's aiosqlite connection, or None on any other driver."""
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        return None
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    # aiosqlite runs every call on its thread through _execute; blobopen has no wrapper of its own.
    if not hasattr(driver, "_execute") or not hasattr(driver, "_conn"):
        return None
    return driver


async def use_blobs(session: AsyncSession, size: int) -> bool:
    """Whether a value of this size goes through write()/read() on this session."""
    return size >= BLOB_APART and await _sqlite(session) is not None


async def write(session: AsyncSession, table: str, column: str, rowid: int, data: bytes) -> None:
    """Fill the zeroblob(len(data)) the row was inserted with."""
    driver = await _sqlite(session)
    assert driver is not None, "use_blobs() first"
    await driver._execute(fill, driver._conn, table, column, rowid, data)


def fill(db: sqlite3.Connection, table: str, column: str, rowid: int, data: bytes) -> None:
    """On a sqlite3 connection, in its thread: fill the zeroblob the row was inserted with."""
    view = memoryview(data)
    with db.blobopen(table, column, rowid) as blob:
        for start in range(0, len(data), BLOCK):
            blob.write(view[start:start + BLOCK])
    _shrink(db)


async def read(session: AsyncSession, table: str, column: str, rowid: int) -> bytes:
    driver = await _sqlite(session)
    assert driver is not None, "use_blobs() first"

    def take(db: sqlite3.Connection) -> bytes:
        with db.blobopen(table, column, rowid, readonly=True) as blob:
            data = blob.read()
        _shrink(db)
        return data

    data: bytes = await driver._execute(take, driver._conn)
    return data


def _shrink(db: sqlite3.Connection) -> None:
    """Give back the page cache a big value filled (2 MB per pooled connection, which each
    connection would otherwise keep: +22 MB after one 25 MB message)."""
    db.execute("PRAGMA shrink_memory")
