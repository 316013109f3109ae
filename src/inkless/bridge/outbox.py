"""Outbound delivery: claim queued messages, hand them to the relay, record the answers.

Delivery is at-least-once: results are recorded as a round goes on (in the background, at
most every RECORD_PERIOD) and when it ends, so a crash between the relay's acceptance and
the record can resend at most one round's messages (relay.batch_size), with the same
Message-ID, which lets clients fold the duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless import metrics
from inkless.bridge import malloc
from inkless.bridge.pressure import IngestPressure
from inkless.bridge.relay import LARGE_COPY, Copy, Relay, RelayConnection, RelayUnavailable, Result
from inkless.clock import Clock
from inkless.config.sections import RelaySection, WorkerSection
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.engine import transient_database_error
from inkless.storage.models import OutboxMessage
from inkless.worker import Worker

log = logging.getLogger(__name__)
# A round's answers are recorded when it ends, and during it once this many have come and
# RECORD_PERIOD seconds have passed since the last record began (one record at a time): a
# slow relay's copies show as sent soon, a fast one's cost the database few transactions.
RECORD_EVERY = 50
RECORD_PERIOD = 0.1
# A relay connection a round left open is used by the next round within this many seconds,
# else closed. Rounds follow each other while there is a backlog; once the queue is done,
# the connections are closed at once.
KEEP_IDLE = 10.0
# Bodies read from the database are kept for later rounds up to this many bytes in all; a
# bigger one is read each round and let go after it, so a 25 MB attachment does not stay.
BODY_CACHE_BYTES = 4 * 1024 * 1024


class OutboxWorker(Worker):
    """Sends what the handlers queued, retrying transient failures with backoff."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        relay: Relay,
        settings: RelaySection,
        worker_settings: WorkerSection,
        clock: Clock,
        claimer: Callable[[], queries.Claimer],
        pressure: IngestPressure | None = None,
    ) -> None:
        super().__init__()
        self._pressure = pressure or IngestPressure(max_defer=0)
        self._sessions = sessions
        self._relay = relay
        self._settings = settings
        self._worker_settings = worker_settings
        self._clock = clock
        self._claimer = claimer
        self._worker_id = claimer().worker
        self._claimed_at, self._lease = datetime.min.replace(tzinfo=timezone.utc), 0.0  # of the batch in hand
        self._bodies: OrderedDict[int, bytes] = OrderedDict()
        self._recording = asyncio.Lock()
        # Relay connections left open by a full round for the next (monotonic time they were left).
        self._idle: list[tuple[RelayConnection, float]] = []
        # Left by a database outage in the middle of a batch (see _deliver).
        self._held_results: list[tuple[OutboxMessage, Result]] = []
        self._held_unsent: list[OutboxMessage] = []

    async def idle_timeout(self) -> float:
        """Until the next retry falls due, at most the poll interval (other processes queue mail)."""
        poll = self._worker_settings.poll_interval
        async with self._sessions() as session:
            due = await queries.next_due(session, OutboxMessage)
        if due is None:
            return poll
        return max(0.0, min(poll, (due - self._clock.now()).total_seconds()))

    async def run_once(self) -> int:
        """Claim one batch and deliver it over relay.connections connections (kept open for the
        next round while a backlog lasts); return how many were tried."""
        if self._held_results or self._held_unsent:
            await self._settle_held()
        await self._pressure.quiet()
        claimer = self._claimer()
        batch: Sequence[OutboxMessage] = []
        try:
            async with self._sessions() as session, session.begin():
                batch = await queries.claim_due(session, OutboxMessage, claimer, limit=self._settings.batch_size)
            self._claimed_at, self._lease = claimer.now, claimer.lease
            if batch:
                await self._deliver(batch)
        finally:
            if len(batch) < self._settings.batch_size:  # the queue is done for now: no session left waiting
                await self._close_idle()
        return len(batch)

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            await self._close_idle()

    async def _deliver(self, batch: Sequence[OutboxMessage]) -> None:
        """Send a batch over relay.connections connections at once; the answers are recorded as
        they come, in the background (a connection does not wait for the database)."""
        recordings = _Recordings(self._record)
        answered = recordings.pending  # answers not recorded (nor being recorded)
        unavailable: list[str] = []
        try:
            bodies = await self._load_bodies({row.body_id for row in batch})
            rows = iter(batch)  # shared: each connection takes the next row
            lanes_failed: Exception | None = None
            try:
                async with asyncio.TaskGroup() as lanes:
                    for _ in range(min(self._settings.connections, len(batch))):
                        lanes.create_task(self._lane(rows, bodies, recordings, unavailable))
            except Exception as exc:
                lanes_failed = exc
            finally:  # on cancellation too: no recording outlives its round
                failed = await recordings.finish()
            errors = [*getattr(lanes_failed, "exceptions", [lanes_failed] if lanes_failed else []), *failed]
            if errors:
                raise ExceptionGroup("delivery round", errors)
            if unavailable:
                # Whatever no connection answered for waits for the next attempt, with the reason.
                done = {row.id for row, _ in answered}
                answered += [(row, Result(ok=False, reason=unavailable[0])) for row in batch
                             if row.id not in done and not self._recorded(row)]
            await self._record(answered)
            if any(len(body) >= LARGE_COPY for body in bodies.values()):
                del bodies
                malloc.give_back()
        except BaseException as exc:
            unexpected = [e for e in getattr(exc, "exceptions", [exc]) if not transient_database_error(e)]
            if unexpected:
                raise
            # The relay's answers cannot be recorded now. Keep them, and stop sending: the next
            # round records them once the database is back and puts the unsent rest back in
            # the queue, rather than leaving all of it to be sent again after the lease.
            done = {row.id for row, _ in answered}
            self._held_results += answered
            self._held_unsent += [row for row in batch if not self._recorded(row) and row.id not in done]
            raise

    async def _lane(self, rows: Iterator[OutboxMessage], bodies: dict[int, bytes],
                    recordings: _Recordings, unavailable: list[str]) -> None:
        """One relay connection: send rows until none are left or the relay goes away.

        A connection that has worked (it carried an earlier round, or answered a copy of this
        one) and is then lost is replaced, and what it was handed and did not answer goes over
        the new one: relays close sessions after a while or a number of messages. A new
        connection that is lost before it answers anything means the relay is away."""
        taken: deque[OutboxMessage] = deque()  # handed to the connection, not answered yet

        def copies(first: list[OutboxMessage]) -> Iterator[Copy]:
            for row in itertools.chain(first, rows):
                if recordings.failed:
                    return  # answers can no longer be recorded: send no more
                taken.append(row)
                yield Copy(row.mail_from, row.rcpt, row.headers, bodies[row.body_id])

        while True:
            connection: RelayConnection | None = None
            worked = False
            again = list(taken)
            taken.clear()
            try:
                connection, worked = await self._connection()
                async with contextlib.aclosing(connection.send_all(copies(again))) as results:
                    async for result in results:
                        worked = True
                        recordings.answer(taken.popleft(), result)
                        await self._pressure.quiet()
            except RelayUnavailable as exc:
                if connection is not None:
                    await connection.close()
                if connection is not None and worked:
                    log.info("relay: %s; connecting again", exc)
                    continue
                log.warning("relay: %s", exc)
                unavailable.append(str(exc))
                return
            except BaseException:
                if connection is not None:
                    await connection.close()
                raise
            self._idle.append((connection, time.monotonic()))
            return

    async def _connection(self) -> tuple[RelayConnection, bool]:
        """A relay connection kept from the last round, if recent (and whether it was), or a new one."""
        while self._idle:
            connection, since = self._idle.pop()
            if time.monotonic() - since < KEEP_IDLE:
                return connection, True
            await connection.close()
        return await self._relay.connect(), False

    async def _close_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            await connection.close()

    async def _settle_held(self) -> None:
        """Record what a database outage left unrecorded; requeue what it left unsent."""
        await self._record(self._held_results)  # raises again while the database is still away
        self._held_results = []
        if self._held_unsent:
            async with self._sessions() as session, session.begin():
                await session.execute(update(OutboxMessage).where(
                    OutboxMessage.id.in_([row.id for row in self._held_unsent]),
                    OutboxMessage.claimed_by == self._worker_id, OutboxMessage.status == "sending",
                ).values(status="queued", claimed_by=None))
            self._held_unsent = []

    @staticmethod
    def _recorded(row: OutboxMessage) -> bool:
        return row.status != "sending"

    async def _load_bodies(self, ids: set[int]) -> dict[int, bytes]:
        """The bodies a round needs; small ones stay cached for later rounds (a fan-out is
        many rounds over one body), up to BODY_CACHE_BYTES in all, least recently used out."""
        result = {body_id: self._bodies[body_id] for body_id in ids if body_id in self._bodies}
        missing = [body_id for body_id in ids if body_id not in result]
        if missing:
            async with self._sessions() as session:
                result.update(await queries.outbox_bodies(session, missing))
        for body_id, data in result.items():
            if len(data) <= BODY_CACHE_BYTES:
                self._bodies[body_id] = data
                self._bodies.move_to_end(body_id)
        cached = sum(map(len, self._bodies.values()))
        while cached > BODY_CACHE_BYTES:
            cached -= len(self._bodies.popitem(last=False)[1])
        return result

    async def _record(self, results: list[tuple[OutboxMessage, Result]]) -> None:
        if not results:
            return
        # One record at a time: the connections of a round share the claim being renewed,
        # and two transactions updating the same rows in a different order would deadlock.
        async with self._recording:
            await self._record_now(results)
        self.progressed()

    async def _record_now(self, results: list[tuple[OutboxMessage, Result]]) -> None:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            if now - self._claimed_at >= timedelta(seconds=self._lease / 4):
                # The rest of the batch is still ours: renew the claim, so a slow relay does not
                # let the lease run out and another process send the same copies again.
                await session.execute(update(OutboxMessage).where(
                    OutboxMessage.claimed_by == self._worker_id, OutboxMessage.status == "sending",
                ).values(claimed_at=now))
                self._claimed_at = now
            sent = [row for row, result in results if result.ok]
            if sent:
                await queries.mark_sent(session, sent, worker=self._worker_id, now=now)
                metrics.OUTBOUND.labels("sent").inc(len(sent))
            for row, result in results:
                if result.ok:
                    continue
                if result.permanent or self._expired(row, now):
                    await self._mark_failed(session, row, result, now)
                else:
                    await self._reschedule(session, row, result, now)
        for row, _ in results:
            row.status = "recorded"


    async def _mark_failed(self, session: AsyncSession, row: OutboxMessage, result: Result, now: datetime) -> None:
        reason = result.reason if result.permanent else f"gave up after {row.attempts + 1} attempts: {result.reason}"
        if not await self._still_ours(session, row, status="failed", attempts=OutboxMessage.attempts + 1,
                                      last_error=reason):
            return
        await queries.mark_recipient_failed(session, row, reason)
        record(session, now=now, actor="relay", action="outbound.failed", subject_type="outbox", subject_id=row.id,
               detail={"rcpt": row.rcpt, "reason": reason, "recipient_id": row.recipient_id})
        metrics.OUTBOUND.labels("failed").inc()

    async def _reschedule(self, session: AsyncSession, row: OutboxMessage, result: Result, now: datetime) -> None:
        delay = min(self._settings.retry_max, self._settings.retry_initial * 2 ** row.attempts)
        if await self._still_ours(session, row, status="queued", attempts=OutboxMessage.attempts + 1,
                                  last_error=result.reason, next_attempt_at=now + timedelta(seconds=delay),
                                  claimed_by=None):
            metrics.OUTBOUND.labels("retry").inc()

    async def _still_ours(self, session: AsyncSession, row: OutboxMessage, **values: object) -> bool:
        """Update a row we claimed; False when another worker took it over after our lease ran out
        (its result counts, so a late failure of ours must not undo its delivery)."""
        result = await session.execute(update(OutboxMessage).where(
            OutboxMessage.id == row.id, OutboxMessage.claimed_by == self._worker_id,
            OutboxMessage.status == "sending").values(**values))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def _expired(self, row: OutboxMessage, now: datetime) -> bool:
        return (now - row.created_at).total_seconds() >= self._settings.give_up_after


class _Recordings:
    """A round's answers, recorded while its connections go on sending (they never wait for
    the database): once RECORD_EVERY have come and RECORD_PERIOD has passed since the last
    record began; what comes meanwhile goes in the next record, or in the round's last."""

    def __init__(self, record: Callable[[list[tuple[OutboxMessage, Result]]], Coroutine[Any, Any, None]]) -> None:
        self._record = record
        self.pending: list[tuple[OutboxMessage, Result]] = []  # not recorded, nor being recorded
        self._current: tuple[asyncio.Task[None], list[tuple[OutboxMessage, Result]]] | None = None
        self._errors: list[Exception] = []
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()  # the round's start counts as the last record's

    @property
    def failed(self) -> bool:
        """Whether a record has failed (the database is away, say): then no more are started."""
        return bool(self._errors)

    def answer(self, row: OutboxMessage, result: Result) -> None:
        self.pending.append((row, result))
        self._next()

    def _next(self) -> None:
        if (self._current is None and len(self.pending) >= RECORD_EVERY and not self._errors
                and self._loop.time() - self._started >= RECORD_PERIOD):
            self._started = self._loop.time()
            chunk = self.pending[:]
            del self.pending[:]  # the same list: _deliver holds it
            task = asyncio.create_task(self._record(chunk))
            self._current = (task, chunk)
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        assert self._current is not None
        chunk, self._current = self._current[1], None
        error = None if task.cancelled() else task.exception()
        if task.cancelled() or error is not None:
            self.pending[:0] = chunk  # not recorded
            if isinstance(error, Exception):
                self._errors.append(error)
            return
        self._next()

    async def finish(self) -> list[Exception]:
        """Wait for the record under way (and the one it starts); the errors of those that failed."""
        while self._current is not None:
            await asyncio.wait([self._current[0]])
        return self._errors
