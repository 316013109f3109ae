"""Big values kept apart from their rows, a megabyte to a row.

A message as it arrived, an attachment's file and a shared outbox body can each be tens of
megabytes, and kept in their owner's own column they cost several times themselves: bound
as one parameter, SQLite copies a blob twice before writing it (and materialises a zeroblob
that is not the record's last column); asyncpg builds the whole value in its write buffer
and reads it whole into its read buffer before handing out bytes; and on SQLite every update
of the owner's row (a message's status, its claim's heartbeat) rewrites the whole record.

So a value of APART bytes or more is written as CHUNK-sized rows of `blob_chunks`, one
statement each, and read back the same way; its owner's column stays empty. Rows stored
before this (revision 0011) keep their values inline and are read as before: an empty
column is what sends a reader here.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.storage.models import BlobChunk

APART = 256 * 1024
CHUNK = 1024 * 1024

# Owners (blob_chunks.owner): whose id owner_id is.
INBOUND = "inbound"
ATTACHMENT = "attachment"
OUTBOX_BODY = "outbox_body"


def apart(data: bytes) -> bool:
    """Whether this value is kept in blob_chunks (its owner's column then stays empty)."""
    return len(data) >= APART


def inline(data: bytes) -> bytes:
    """What the owner's own column holds: the value itself, or nothing when it is kept apart."""
    return b"" if apart(data) else data


def _pieces(data: bytes) -> list[memoryview]:
    view = memoryview(data)
    return [view[start:start + CHUNK] for start in range(0, len(data), CHUNK)]


async def put(session: AsyncSession, owner: str, owner_id: int, data: bytes) -> None:
    """Keep a value apart (if it is big; a small one stays in its owner's column)."""
    if not apart(data):
        return
    # The values go as parameters of the execution: a statement built with .values(data=…)
    # would sit in SQLAlchemy's compiled cache with its first chunk, a view of the whole value.
    for seq, piece in enumerate(_pieces(data)):
        await session.execute(insert(BlobChunk), {"owner": owner, "owner_id": owner_id, "seq": seq, "data": piece})
    await _shrink(session)


def put_sqlite(db: sqlite3.Connection, owner: str, owner_id: int, data: bytes) -> None:
    """put() on a plain sqlite3 connection, inside the caller's transaction."""
    if apart(data):
        db.executemany("INSERT INTO blob_chunks (owner, owner_id, seq, data) VALUES (?, ?, ?, ?)",
                       ((owner, owner_id, seq, piece) for seq, piece in enumerate(_pieces(data))))


async def get(session: AsyncSession, owner: str, owner_id: int) -> bytes:
    """A value kept apart, read a chunk per statement (b"" when there is none)."""
    chunks: list[bytes] = []
    query = select(BlobChunk.data).where(BlobChunk.owner == owner, BlobChunk.owner_id == owner_id)
    while (chunk := await session.scalar(query.where(BlobChunk.seq == len(chunks)))) is not None:
        chunks.append(chunk)
    if chunks:
        await _shrink(session)
    if len(chunks) == 1:
        return chunks[0]
    data = b"".join(chunks)
    chunks.clear()
    return data


async def _shrink(session: AsyncSession) -> None:
    """On SQLite, give back the page cache a big value went through: each pooled connection
    would otherwise keep its 2 MB (+19 MB after one 25 MB message, measured)."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("PRAGMA shrink_memory"))
