"""The durable inbound store, and the worker that runs stored messages through pipelines.

The SMTP edge answers 250 only after `InboundStore.store` returns: the raw bytes and the
envelope are committed by then. Processing happens afterwards, from the store, so a
crash between the two loses nothing: the worker finds the message again at start.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer
from sqlalchemy.orm.attributes import set_committed_value

from inkless import metrics
from inkless.bridge import malloc
from inkless.bridge.pressure import IngestPressure
from inkless.bridge.worker import Worker
from inkless.clock import Clock
from inkless.config import Config
from inkless.directory import Directory
from inkless.handlers import pipeline
from inkless.printable import printable
from inkless.storage import blobs, queries
from inkless.storage.audit import record
from inkless.storage.engine import SQLITE_PRAGMAS, transient_database_error
from inkless.storage.models import InboundMessage
from inkless.tokens import TokenSigner

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
# An arrival at least this big is written by SqliteInboundStore in a thread, not on the loop.
STORE_APART = 256 * 1024
# After processing a message at least this big, the memory it used is given back (malloc_trim).
GIVE_BACK_AFTER = 1024 * 1024


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

    def close(self) -> None: ...


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

    def close(self) -> None:
        self._db.close()


class SessionInboundStore:
    """Inserts through the async engine (PostgreSQL), with group commit: arrivals that come
    while a commit is under way wait for the next one and share it (one multi-row INSERT,
    one commit, one WAL flush). Each caller's 250 still waits for the commit of its own row;
    a failed commit fails every caller in it (each answers 451), and nothing is half-stored.
    """

    name = "session"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._pending: list[tuple[dict[str, object], bytes, asyncio.Future[int]]] = []
        self._committing: asyncio.Task[None] | None = None

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
                async with self._sessions() as session, session.begin():
                    connection = await session.connection()
                    result = await connection.execute(
                        insert(InboundMessage).returning(InboundMessage.id, sort_by_parameter_order=True),
                        [row for row, _, _ in batch])
                    ids = [int(inbound_id) for inbound_id in result.scalars()]
                    for inbound_id, (_, raw, _) in zip(ids, batch, strict=True):
                        await blobs.put(session, blobs.INBOUND, inbound_id, raw)
            except Exception as exc:  # the database is unreachable, say: every caller answers 451
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), inbound_id in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(inbound_id)

    def close(self) -> None:
        pass


class _Undo(Exception):
    """Roll back a message's transaction, then record this outcome on its own."""

    def __init__(self, outcome: pipeline.Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


class _Superseded(Exception):
    """Our claim on a message lapsed and another worker holds it now."""


class InboxWorker(Worker):
    """Claims stored messages and runs each through its pipelines in one transaction.

    No message can stop the queue: whatever goes wrong with one (a handler's error, an
    outcome that cannot be recorded) ends it in quarantine with a printable reason, and the
    worker goes on with the next. Only a database that cannot be reached holds a message
    back; each such failed attempt is counted, and a message that has been tried
    MAX_ATTEMPTS times (counting takeovers after a crash) is quarantined, not tried again.
    """

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        config: Config,
        directory: Callable[[], Directory],
        signer: TokenSigner,
        clock: Clock,
        claimer: Callable[[], queries.Claimer],
        on_processed: Callable[[], None],
        pressure: IngestPressure | None = None,
    ) -> None:
        super().__init__()
        self._pressure = pressure or IngestPressure(max_defer=0)
        self._sessions = sessions
        self._config = config
        self._directory = directory
        self._signer = signer
        self._clock = clock
        self._claimer = claimer
        self._worker_id = claimer().worker
        self._on_processed = on_processed
        # Claimed by this worker and not finished yet (the database went away mid-batch).
        self._held: list[int] = []
        self._processed_big = False  # the message just processed was big: give its memory back

    async def idle_timeout(self) -> float:
        # Other processes store mail too; look for it now and then.
        return self._config.worker.poll_interval

    async def run_once(self, limit: int = 20) -> int:
        """Claim and process one batch; return how many were processed.

        When the database goes away halfway (a restart, a failover), the round fails and the
        rest of the batch stays held: the next round goes on with it once the database is
        back, rather than leaving it for another process to take over.
        """
        if not self._held:
            async with self._sessions() as session, session.begin():
                self._held = await queries.claim_inbound(session, self._claimer(), limit=limit)
        ids = list(self._held)
        while self._held:
            await self._pressure.quiet()
            await self._process(self._held[0])
            self._held.pop(0)
            self.progressed()
        if ids:
            self._on_processed()
        return len(ids)

    async def _process(self, inbound_id: int) -> None:
        started = time.perf_counter()
        keeper = asyncio.create_task(self._keep_claim(inbound_id))
        try:
            await self._process_claimed(inbound_id)
        finally:
            keeper.cancel()
            if self._processed_big:
                self._processed_big = False
                malloc.give_back()
        metrics.PROCESSING_SECONDS.observe(time.perf_counter() - started)

    async def _keep_claim(self, inbound_id: int) -> None:
        """Renew the claim while a long message (a fan-out to thousands) is processed. Processes
        take over by heartbeat; this is for those that still go by the claim's age alone."""
        interval = self._config.worker.lease / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._sessions() as session, session.begin():
                    await session.execute(update(InboundMessage).where(
                        InboundMessage.id == inbound_id, InboundMessage.claimed_by == self._worker_id,
                        InboundMessage.status == "processing").values(claimed_at=self._clock.now()))
            except Exception as exc:  # the next renewal tries again; the lease is the fallback
                log.warning("inbound %s: cannot renew the claim: %s", inbound_id, exc)

    async def _process_claimed(self, inbound_id: int) -> None:
        """Process one claimed message to an outcome that is recorded, whatever happens; only a
        transient database error escapes (the message stays held for the next round)."""
        try:
            outcome = await self._run(inbound_id)
        except Exception as exc:
            if transient_database_error(exc):
                await self._count_failed_attempt(inbound_id, exc)
                raise  # no fault of the message: run_once fails and the next round tries it again
            log.exception("inbound %s: processing failed", inbound_id)
            outcome = pipeline.Outcome("quarantined", f"internal error: {type(exc).__name__}: {exc}")
        if outcome is not None:
            await self._record_alone(inbound_id, outcome)

    async def _run(self, inbound_id: int) -> pipeline.Outcome | None:
        """Run the pipelines; a done outcome commits with what the handlers wrote (None is
        returned), any other is returned to be recorded on its own."""
        try:
            async with self._sessions() as session, session.begin():
                # The bytes are read on their own: a big message's a chunk at a time.
                inbound = await session.get(InboundMessage, inbound_id, options=[defer(InboundMessage.raw)])
                if inbound is None or inbound.claimed_by != self._worker_id or inbound.status != "processing":
                    return None
                set_committed_value(inbound, "raw", await queries.inbound_raw(session, inbound_id))
                self._processed_big = inbound.size >= GIVE_BACK_AFTER
                if inbound.attempts > MAX_ATTEMPTS:
                    last = f"; the last: {inbound.reason}" if inbound.reason else ""
                    raise _Undo(pipeline.Outcome("quarantined", f"processing failed {MAX_ATTEMPTS} times{last}"))
                outcome = await pipeline.run(session=session, config=self._config, directory=self._directory(),
                                             signer=self._signer, clock=self._clock, inbound=inbound)
                if outcome.status != "done":
                    raise _Undo(outcome)
                await self._finish(session, inbound_id, outcome)
        except _Undo as undo:
            # Nothing a handler wrote survives an outcome other than done.
            return undo.outcome
        except _Superseded:
            log.warning("inbound %s: taken over by another worker; our result is dropped", inbound_id)
        return None

    async def _record_alone(self, inbound_id: int, outcome: pipeline.Outcome) -> None:
        """Record an outcome in a transaction of its own. If that fails, the message goes to
        quarantine (in a fresh transaction) with what went wrong, so that it is never tried
        again in a loop; if even that fails, with a fixed reason and no audit entry."""
        try:
            await self._finish_alone(inbound_id, outcome)
            return
        except Exception as exc:
            if transient_database_error(exc):
                raise
            log.exception("inbound %s: cannot record the outcome %s", inbound_id, outcome.status)
            fallback = pipeline.Outcome("quarantined", f"cannot record the outcome {outcome.status} "
                                        f"({outcome.reason}): {type(exc).__name__}: {exc}")
        try:
            await self._finish_alone(inbound_id, fallback)
            return
        except Exception as exc:
            if transient_database_error(exc):
                raise
            log.exception("inbound %s: cannot record the quarantine either", inbound_id)
        try:
            async with self._sessions() as session, session.begin():
                await session.execute(update(InboundMessage).where(
                    InboundMessage.id == inbound_id, InboundMessage.claimed_by == self._worker_id,
                    InboundMessage.status == "processing").values(
                    status="quarantined", processed_at=self._clock.now(),
                    reason="no outcome could be recorded; see the service log"))
        except Exception as exc:
            if transient_database_error(exc):
                raise
            # Left claimed: the worker moves on; after a restart it counts as one more attempt.
            log.exception("inbound %s: cannot mark it quarantined; moving on", inbound_id)
            return
        metrics.INBOUND_PROCESSED.labels("quarantined").inc()

    async def _count_failed_attempt(self, inbound_id: int, exc: Exception) -> None:
        """Count an attempt that a database error cut short, with the error as the reason (best
        effort: while the database is away nothing is counted, and an outage is no attempt)."""
        try:
            async with self._sessions() as session, session.begin():
                await session.execute(update(InboundMessage).where(
                    InboundMessage.id == inbound_id, InboundMessage.claimed_by == self._worker_id,
                    InboundMessage.status == "processing").values(
                    attempts=InboundMessage.attempts + 1, reason=printable(f"{type(exc).__name__}: {exc}")))
        except Exception as error:  # the database is still away: the round fails with exc anyway
            log.debug("inbound %s: attempt not counted: %s", inbound_id, error)

    async def _finish_alone(self, inbound_id: int, outcome: pipeline.Outcome) -> None:
        try:
            async with self._sessions() as session, session.begin():
                await self._finish(session, inbound_id, outcome)
        except _Superseded:
            log.warning("inbound %s: taken over by another worker; our result is dropped", inbound_id)

    async def _finish(self, session: AsyncSession, inbound_id: int, outcome: pipeline.Outcome) -> None:
        now = self._clock.now()
        reason = None if outcome.reason is None else printable(outcome.reason)
        values: dict[str, object] = {"status": outcome.status, "reason": reason, "processed_at": now}
        if outcome.status == "retry":
            values = {"status": "new", "reason": reason, "claimed_by": None}
        result = await session.execute(
            update(InboundMessage)
            .where(InboundMessage.id == inbound_id, InboundMessage.claimed_by == self._worker_id,
                   InboundMessage.status == "processing")
            .values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            # Another process took the message over after our heartbeat ran out: its result counts.
            raise _Superseded(inbound_id)
        if outcome.status in ("quarantined", "discarded"):
            record(session, now=now, actor="inkless", action=f"inbound.{outcome.status}", subject_type="inbound",
                   subject_id=inbound_id, detail={"reason": reason})
        metrics.INBOUND_PROCESSED.labels(outcome.status).inc()


async def quarantined(session: AsyncSession, limit: int = 100) -> list[InboundMessage]:
    """The newest quarantined messages (for `inkless check`)."""
    rows = await session.scalars(
        select(InboundMessage).where(InboundMessage.status == "quarantined")
        .order_by(InboundMessage.id.desc()).limit(limit))
    return list(rows.all())

