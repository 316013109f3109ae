"""The worker that runs stored messages through pipelines.

The SMTP edge answers 250 only after `InboundStore.store` returns (bridge/store.py): the raw
bytes and the envelope are committed by then. Processing happens afterwards, from the store,
so a crash between the two loses nothing: the worker finds the message again at start.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import Callable
from typing import TypeGuard

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from inkless import metrics
from inkless.bridge import malloc
from inkless.bridge.pressure import IngestPressure
from inkless.clock import Clock
from inkless.config import Config
from inkless.directory import Directory
from inkless.handlers import pipeline
from inkless.printable import printable
from inkless.storage import later, queries
from inkless.storage.audit import record
from inkless.storage.engine import transient_database_error
from inkless.storage.models import InboundMessage
from inkless.tokens import TokenSigner
from inkless.worker import Worker

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
# After processing a message at least this big, the memory it used is given back (malloc_trim).
GIVE_BACK_AFTER = 1024 * 1024
# Up to this many small messages are processed in one transaction (see InboxWorker.run_once);
# each is below blobs.APART (256 KB), so a batch's bytes stay under 13 MB.
TOGETHER = 50


class _Undo(Exception):
    """Roll back a message's transaction, then record this outcome on its own."""

    def __init__(self, outcome: pipeline.Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


class _Superseded(Exception):
    """Our claim on a message lapsed and another worker holds it now."""


class _Apart(Exception):
    """A message cannot end with the others of its batch: it is processed alone."""


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

    async def run_once(self, limit: int = TOGETHER) -> int:
        """Claim and process one batch; return how many were processed.

        Small messages go up to TOGETHER to a transaction: one BEGIN, one COMMIT, one UPDATE of
        their rows and the rows they leave for the end (storage/later.py) for all of them, which
        was a quarter of a document's cost (50 rather than 10: 258 -> 290 documents/s on
        SQLite, 153 -> 184 on PostgreSQL). Each message of a batch runs in a savepoint; the
        batch ends before a message that is big or not ours any more, and at one that ends
        otherwise than done or raises (its savepoint is rolled back; so are the rows it left
        for the end). What the batch did until then commits, and that message is processed
        alone, in its own transaction, as every message was before batches (so a bad message
        costs its own work twice, never a good message's outcome, number or row id). Mail
        arriving ends a batch early too: processing gives way to the SMTP edge between
        messages, as it does one message at a time.

        On PostgreSQL a batch holds its rows' locks until it commits. A unit's number counter
        was among them from the batch's first document, so a second process issuing the same
        unit's documents waited for the whole batch: the batch numbers its outgoing documents at
        its end (queries.number_at_end), and a document that fails then rolls the batch back:
        the messages before it go again, it goes alone. For other counters (incoming numbers,
        taken as each document is registered) a batch waits only while it holds none
        (queries.wait_for_one_counter): one more that another batch holds is refused at once,
        and that message is rolled back to its savepoint, ends its batch and is processed alone
        (waiting, holding no counter). Batches taking two units' counters in opposite orders
        used to deadlock, a second each until PostgreSQL broke the cycle.

        When the database goes away halfway (a restart, a failover), the round fails and the
        rest of the batch stays held: the next round goes on with it once the database is
        back, rather than leaving it for another process to take over.
        """
        if not self._held:
            async with self._sessions() as session, session.begin():
                self._held = await queries.claim_inbound(session, self._claimer(), limit=limit)
        ids = list(self._held)
        alone = False
        while self._held:
            await self._pressure.quiet()
            batch = self._held[:TOGETHER]
            done = 0 if alone or len(batch) == 1 else await self._process_together(batch)
            # The message a batch stopped before goes alone next: it may be the one that failed.
            alone = 0 < done < len(batch)
            if not done:
                await self._process(self._held[0])
                done = 1
            del self._held[:done]
            self.progressed()
        if ids:
            self._on_processed()
        return len(ids)

    async def _process_together(self, ids: list[int]) -> int:
        """Process the longest run of small messages from the start of ids that end done, in one
        transaction, each in a savepoint of its own; return how many that was (0: the first
        message is to be processed alone).

        The run stops before a message that is big or not ours any more, at one that ends
        otherwise than done or raises (its savepoint is rolled back, so nothing it wrote is
        kept: not a number, not a row id), and when mail begins to arrive."""
        started = time.perf_counter()
        keeper = asyncio.create_task(self._keep_claim(*ids))
        done: list[int] = []
        marks: list[int] = []  # per message done: how many documents waited for a number before it
        late: int | None = None  # the message whose document failed once numbered
        try:
            async with self._sessions() as session, session.begin():
                later.defer(session)
                queries.wait_for_one_counter(session)
                queries.number_at_end(session)
                found = {inbound.id: inbound for inbound in await queries.inbound_messages(session, ids)}
                directory = self._directory()
                for inbound_id in ids:
                    inbound = found.get(inbound_id)
                    if done and self._pressure.arriving() or not self._ours(inbound) or not inbound.raw \
                            or inbound.size >= GIVE_BACK_AFTER or inbound.attempts > MAX_ATTEMPTS:
                        break
                    numbers = queries.numbers_waiting(session)
                    try:
                        async with session.begin_nested():
                            outcome = await pipeline.run(session=session, config=self._config, directory=directory,
                                                         signer=self._signer, clock=self._clock, inbound=inbound)
                            if outcome.status != "done":
                                raise _Apart(outcome.status)
                    except Exception as exc:  # _Apart, a handler's error, the database: alone, it says which
                        log.debug("inbound %s: processed alone: %s", inbound_id, exc)
                        queries.forget_numbers(session, numbers)  # its documents are gone with it
                        break
                    done.append(inbound_id)
                    marks.append(numbers)
                if not done:
                    return 0
                try:
                    await queries.take_numbers(session)
                except queries.NumberingFailed as failed:
                    late = bisect.bisect_right(marks, failed.index) - 1
                    raise
                await later.write(session)
                result = await session.execute(
                    update(InboundMessage)
                    .where(InboundMessage.id.in_(done), InboundMessage.claimed_by == self._worker_id,
                           InboundMessage.status == "processing")
                    .values(status="done", reason=None, processed_at=self._clock.now())
                    .execution_options(synchronize_session=False))
                if result.rowcount != len(done):  # type: ignore[attr-defined]
                    raise _Apart("taken over by another worker meanwhile")
        except Exception as exc:  # the commit, or a takeover: each message alone says which
            if late is None:
                log.debug("inbounds %s: processed one at a time: %s", done, exc)
                return 0
        finally:
            keeper.cancel()
        if late is not None:
            # Its numbers are taken with all the batch's: the messages before it go again
            # without it, and it goes alone after them (as a message failing in its turn would).
            log.debug("inbound %s: failed once numbered, processed alone", done[late])
            return await self._process_together(done[:late]) if late else 0
        metrics.INBOUND_PROCESSED.labels("done").inc(len(done))
        each = (time.perf_counter() - started) / len(done)
        for _ in done:
            metrics.PROCESSING_SECONDS.observe(each)
        return len(done)

    def _ours(self, inbound: InboundMessage | None) -> TypeGuard[InboundMessage]:
        """Whether a message is still claimed by this worker and under way."""
        return inbound is not None and inbound.claimed_by == self._worker_id and inbound.status == "processing"

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

    async def _keep_claim(self, *inbound_ids: int) -> None:
        """Renew the claim while a long message (a fan-out to thousands) is processed. Processes
        take over by heartbeat; this is for those that still go by the claim's age alone."""
        interval = self._config.worker.lease / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._sessions() as session, session.begin():
                    await session.execute(update(InboundMessage).where(
                        InboundMessage.id.in_(inbound_ids), InboundMessage.claimed_by == self._worker_id,
                        InboundMessage.status == "processing").values(claimed_at=self._clock.now()))
            except Exception as exc:  # the next renewal tries again; the lease is the fallback
                log.warning("inbound %s: cannot renew the claim: %s", ", ".join(map(str, inbound_ids)), exc)

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
                later.defer(session)
                # A message's bytes come with its row; a big one's row holds none (they are kept
                # apart, storage/blobs.py) and they are read a chunk at a time.
                inbound = await session.get(InboundMessage, inbound_id)
                if not self._ours(inbound):
                    return None
                if not inbound.raw and inbound.size:
                    set_committed_value(inbound, "raw", await queries.inbound_raw(session, inbound_id))
                self._processed_big = inbound.size >= GIVE_BACK_AFTER
                if inbound.attempts > MAX_ATTEMPTS:
                    last = f"; the last: {inbound.reason}" if inbound.reason else ""
                    raise _Undo(pipeline.Outcome("quarantined", f"processing failed {MAX_ATTEMPTS} times{last}"))
                outcome = await pipeline.run(session=session, config=self._config, directory=self._directory(),
                                             signer=self._signer, clock=self._clock, inbound=inbound)
                if outcome.status != "done":
                    raise _Undo(outcome)
                await later.write(session)
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
        if outcome.tell is not None:
            await outcome.tell(session)
        metrics.INBOUND_PROCESSED.labels(outcome.status).inc()
