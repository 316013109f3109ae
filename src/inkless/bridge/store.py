"""The durable inbound store: the SMTP and IMAP edges answer only after `InboundStore.store`
has committed a message's bytes and envelope; the inbox worker (bridge/inbox.py) takes it from there."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Protocol

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from inkless.clock import Clock
from inkless.storage import blobs
from inkless.storage.bulk import driver
from inkless.storage.engine import SQLITE_PRAGMAS
from inkless.storage.models import InboundMessage

log = logging.getLogger(__name__)

# An arrival kept apart in chunks (storage/blobs.py) is written by SqliteInboundStore in a
# thread, not on the loop: megabytes of chunk rows are no work for the event loop.
STORE_APART = blobs.APART


@dataclass(frozen=True)
class Arrival:
    """A message as the SMTP edge received it."""

    peer: str | None
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    source: str = "smtp"


class InboundStore(Protocol):
    """Commits an arrival durably and returns its id."""

    name: str

    async def store(self, arrival: Arrival) -> int: ...

    async def close(self) -> None: ...


class SqliteInboundStore:
    """Inserts and commits on the event loop's own thread: a WAL commit takes ~50 µs, less
    than handing the work to another thread would cost. Messages whose DATA ends in the
    same turn of the loop share one transaction (group commit); each caller's 250 still
    waits for that commit.

    The connection never waits for the write lock inside SQLite (that would block the
    event loop while the lock's holder may need the loop to finish); it yields and tries
    again instead. A big arrival (STORE_APART) is written on a connection of its own in a
    thread, which may wait: a 25 MB insert is no work for the loop.
    """

    name = "sqlite-inline"

    def __init__(self, path: Path, clock: Clock) -> None:
        self._clock = clock
        self._path = path
        # cached_statements=0: a cached INSERT would keep the last raw message bound to it.
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, cached_statements=0)
        for pragma in SQLITE_PRAGMAS:
            self._db.execute(pragma)
        self._db.execute("PRAGMA busy_timeout=0")
        # Checkpoints (and their fsync) are left to the pooled connections, which run them in
        # their own threads; here one would stall the event loop every ~800 arrivals.
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._pending: list[tuple[tuple[object, ...], asyncio.Future[int]]] = []
        self._deadline = 0.0

    def _insert(self, rows: list[tuple[object, ...]], db: sqlite3.Connection | None = None) -> list[int]:
        """Insert arrivals in one transaction (a big one's bytes kept apart, storage/blobs.py)."""
        db = db or self._db
        sql = ("INSERT INTO inbound (received_at, source, peer, mail_from, rcpt_tos, raw, size, status, attempts)"
               " VALUES (?, ?, ?, ?, ?, ?, ?, 'new', 0)")
        if len(rows) == 1 and isinstance(raw := rows[0][5], bytes) and not blobs.apart(raw):
            # One small arrival (the usual batch) is one statement, atomic and committed on its
            # own: BEGIN and COMMIT around it would cost the event loop twice as much again.
            cursor = db.execute(sql, (*rows[0][:5], raw, rows[0][6]))
            assert cursor.lastrowid is not None
            return [cursor.lastrowid]
        db.execute("BEGIN IMMEDIATE")
        try:
            ids = []
            for row in rows:
                raw = row[5]
                assert isinstance(raw, bytes)
                cursor = db.execute(sql, (*row[:5], blobs.inline(raw), row[6]))
                assert cursor.lastrowid is not None
                blobs.put_sqlite(db, blobs.INBOUND, cursor.lastrowid, raw)
                ids.append(cursor.lastrowid)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return ids

    def _insert_apart(self, row: tuple[object, ...]) -> int:
        """One big arrival, on a connection of its own in a worker thread: writing megabytes
        (and waiting for the write lock meanwhile) is no work for the event loop."""
        db = sqlite3.connect(str(self._path), isolation_level=None, cached_statements=0)
        try:
            for pragma in SQLITE_PRAGMAS:  # busy_timeout among them: this thread may wait
                db.execute(pragma)
            db.execute("PRAGMA wal_autocheckpoint=0")
            return self._insert([row], db)[0]
        finally:
            db.close()

    async def store(self, arrival: Arrival) -> int:
        received_at = self._clock.now().astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        row = (received_at, arrival.source, arrival.peer, arrival.mail_from, "\n".join(arrival.rcpt_tos),
               arrival.raw, len(arrival.raw))
        if len(arrival.raw) >= STORE_APART:
            return await asyncio.to_thread(self._insert_apart, row)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._pending.append((row, future))
        if len(self._pending) == 1:
            self._deadline = time.monotonic() + 30
            loop.call_soon(self._flush, 0.0005)
        return await future

    def _flush(self, delay: float) -> None:
        batch, self._pending = self._pending, []
        loop = asyncio.get_running_loop()
        try:
            ids = self._insert([row for row, _ in batch])
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            if busy and time.monotonic() < self._deadline:
                self._pending = batch + self._pending
                loop.call_later(delay, self._flush, min(delay * 2, 0.005))
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), inbound_id in zip(batch, ids, strict=True):
            if not future.done():
                future.set_result(inbound_id)

    async def close(self) -> None:
        self._db.close()


# How long the store's connection may sit unused and still be trusted without a ping.
HOLD_IDLE = 5.0
# How long a stop waits for the commit under way.
CLOSE_WAIT = 10.0
# A batch of small arrivals in one statement on the driver (asyncpg), committed on its own:
# one round trip. Rows are numbered as given and inserted in that order, so their ids rise
# in that order (the order SQLAlchemy's sort_by_parameter_order relies on, too).
_PG_COLUMNS = {"received_at": "timestamptz", "source": "text", "peer": "text", "mail_from": "text",
               "rcpt_tos": "text", "raw": "bytea", "size": "int"}
_PG_INSERT = (
    f"INSERT INTO inbound ({', '.join(_PG_COLUMNS)}, status, attempts)"
    f" SELECT {', '.join(_PG_COLUMNS)}, 'new', 0"
    f" FROM unnest({', '.join(f'${n}::{kind}[]' for n, kind in enumerate(_PG_COLUMNS.values(), 1))})"
    f" WITH ORDINALITY AS arrival({', '.join(_PG_COLUMNS)}, n)"
    " ORDER BY n RETURNING id")
# A batch with a big arrival goes through a session: its chunks are written in the same transaction.
_INSERT = insert(InboundMessage).returning(InboundMessage.id, sort_by_parameter_order=True)


class SessionInboundStore:
    """Inserts through the async engine (PostgreSQL), with group commit: arrivals that come
    while a commit is under way wait for the next one and share it (one multi-row INSERT,
    one commit, one WAL flush). Each caller's 250 still waits for the commit of its own row;
    a failed commit fails every caller in it (each answers 451), and nothing is half-stored.

    A batch of small arrivals is one statement on the driver's connection, committed on its
    own (_PG_INSERT): a session, a pool checkout with its ping, BEGIN and COMMIT cost the event
    loop more than the INSERT (PostgreSQL ingest was 0.84x the bare sink, SQLite's 1.0x). The
    connection is kept only while arrivals keep coming (HOLD_IDLE): after a pause, or once it
    has failed, the next commit takes a fresh one from the pool, which pings it first. So a
    server restarted during a pause costs no one a 451; one restarted under load costs the
    callers of the one commit that finds the connection gone a 451 (their clients try again).
    A batch with a big arrival (kept apart in chunks, storage/blobs.py) goes through a session
    of its own.
    """

    name = "session"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._engine: AsyncEngine = sessions.kw["bind"]
        self._clock = clock
        self._pending: list[tuple[dict[str, object], bytes, asyncio.Future[int]]] = []
        self._committing: asyncio.Task[None] | None = None
        self._connection: AsyncConnection | None = None
        self._used_at = 0.0

    async def store(self, arrival: Arrival) -> int:
        row: dict[str, object] = dict(
            received_at=self._clock.now(), source=arrival.source, peer=arrival.peer, mail_from=arrival.mail_from,
            rcpt_tos="\n".join(arrival.rcpt_tos), raw=blobs.inline(arrival.raw), size=len(arrival.raw),
            status="new", attempts=0)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((row, arrival.raw, future))
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_pending())
        # A client that hangs up cancels only its own future, not the commit others wait for.
        return await future

    async def _commit_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                if any(blobs.apart(raw) for _, raw, _ in batch):
                    ids = await self._insert_apart(batch)
                else:
                    ids = await self._insert(batch)
            except Exception as exc:  # the database is unreachable, say: every caller answers 451
                await self._let_go()
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), inbound_id in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(inbound_id)

    async def _insert(self, batch: list[tuple[dict[str, object], bytes, asyncio.Future[int]]]) -> list[int]:
        now = time.monotonic()
        if self._connection is not None and now - self._used_at > HOLD_IDLE:
            await self._give_back()  # to the pool, which pings it before it is used again
        if self._connection is None:
            self._connection = await self._engine.connect()
        self._used_at = now
        rows = [row for row, _, _ in batch]
        columns = [[row[name] for row in rows] for name in _PG_COLUMNS]
        ids = sorted(int(record[0]) for record in await (await driver(self._connection)).fetch(_PG_INSERT, *columns))
        if len(ids) != len(batch):
            raise RuntimeError(f"inbound store: {len(batch)} arrivals, {len(ids)} rows")
        return ids

    async def _insert_apart(self, batch: list[tuple[dict[str, object], bytes, asyncio.Future[int]]]) -> list[int]:
        async with self._sessions() as session, session.begin():
            connection = await session.connection()
            result = await connection.execute(_INSERT, [row for row, _, _ in batch])
            ids = [int(inbound_id) for inbound_id in result.scalars()]
            for inbound_id, (_, raw, _) in zip(ids, batch, strict=True):
                await blobs.put(session, blobs.INBOUND, inbound_id, raw)
        return ids

    async def _let_go(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.invalidate()
            except Exception:  # already broken: there is nothing left to let go of
                log.debug("inbound store: the failed connection could not be closed", exc_info=True)

    async def _give_back(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # it died while unused: the pool drops it; the next one is fresh
                log.debug("inbound store: the idle connection could not be given back", exc_info=True)

    async def close(self) -> None:
        """After the commit under way (its callers are waiting for their answers), for at most
        CLOSE_WAIT seconds: a database that does not answer must not hold up a stop."""
        if self._committing is not None:
            await asyncio.wait([self._committing], timeout=CLOSE_WAIT)
        await self._give_back()
