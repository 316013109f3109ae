"""The mail path's queues: messages stored as they came and claimed for processing, copies
queued for the relay and marked as it answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, Select, and_, bindparam, func, insert, literal_column, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.storage import blobs
from inkless.storage.bulk import bulk, copy_rows
from inkless.storage.later import later_many
from inkless.storage.models import (
    ChatMessage,
    DeliveryKey,
    InboundMessage,
    OutboxBody,
    OutboxMessage,
    Recipient,
    ShortMessageRecipient,
)
from inkless.storage.models.base import table_of
from inkless.storage.queries.leases import Claimer, abandoned
from inkless.storage.upsert import insert_for

# Which per-recipient table an outbound copy's recipient_id points into, by its kind: the
# relay's acceptance sets that row's sent_at, a permanent failure its failed and reason.
RECIPIENT_TABLES: dict[str, type[Recipient] | type[ShortMessageRecipient]] = {
    "document": Recipient, "short_message": ShortMessageRecipient}


# Core statements on tables (table_of), built once; values always as execution parameters,
# never .values(): a compiled statement is cached with the values it was built with.
_ADD_BODY = insert(table_of(OutboxBody)).returning(table_of(OutboxBody).c.id)
_ENQUEUE = insert(table_of(OutboxMessage))
_ENQUEUE_COLUMNS = ("created_at", "kind", "mail_from", "rcpt", "headers", "body_id", "recipient_id", "status",
                    "attempts", "next_attempt_at")
_CLAIM_KEY = {dialect: insert_for(dialect, table_of(DeliveryKey)).on_conflict_do_nothing()
              for dialect in ("postgresql", "sqlite")}
_COPIES = table_of(OutboxMessage)
_COPIES_SENT = update(_COPIES).where(
    _COPIES.c.id.in_(bindparam("ids", expanding=True)), _COPIES.c.claimed_by == bindparam("worker"),
    _COPIES.c.status == "sending",
).values(status="sent", sent_at=bindparam("now"), attempts=_COPIES.c.attempts + 1, last_error=None)
_RECIPIENTS_SENT = {
    kind: update(table).where(table.c.id.in_(bindparam("ids", expanding=True)), table.c.sent_at.is_(None))
    .values(sent_at=bindparam("now"))
    for kind, table in ((kind, table_of(model)) for kind, model in RECIPIENT_TABLES.items())}


async def add_outbox_body(session: AsyncSession, data: bytes, *, now: datetime) -> int:
    result = await session.execute(_ADD_BODY, {"data": blobs.inline(data), "created_at": now})
    body_id = int(result.scalar_one())
    await blobs.put(session, blobs.OUTBOX_BODY, body_id, data)
    return body_id


async def outbox_bodies(session: AsyncSession, ids: Sequence[int]) -> dict[int, bytes]:
    """The bodies with these ids (a big one read a chunk at a time)."""
    rows = await session.execute(select(OutboxBody.id, OutboxBody.data).where(OutboxBody.id.in_(ids)))
    bodies = {int(body_id): data for body_id, data in rows}
    for body_id, data in bodies.items():
        if not data:
            bodies[body_id] = await blobs.get(session, blobs.OUTBOX_BODY, body_id)
    return bodies


async def inbound_messages(session: AsyncSession, ids: Sequence[int]) -> list[InboundMessage]:
    """These stored messages, with their bytes (none for a big one: see inbound_raw)."""
    return list((await session.scalars(select(InboundMessage).where(InboundMessage.id.in_(ids)))).all())


async def inbound_raw(session: AsyncSession, inbound_id: int) -> bytes:
    """A stored message's bytes as they arrived."""
    raw = await session.scalar(select(InboundMessage.raw).where(InboundMessage.id == inbound_id))
    return raw or await blobs.get(session, blobs.INBOUND, inbound_id)


@dataclass(frozen=True)
class OutboundCopy:
    """One message to queue: envelope, its own header block, and what it belongs to."""

    kind: str
    mail_from: str
    rcpt: str
    headers: bytes
    recipient_id: int | None


async def enqueue(session: AsyncSession, copies: Sequence[OutboundCopy], *, body_id: int, now: datetime) -> None:
    """Queue copies sharing one body; they are sent after the surrounding transaction commits."""
    if not copies:
        return
    if bulk(session, len(copies)):
        await copy_rows(session, "outbox", _ENQUEUE_COLUMNS, [
            (now, c.kind, c.mail_from, c.rcpt, c.headers, body_id, c.recipient_id, "queued", 0, now) for c in copies])
        return
    rows = [{"created_at": now, "kind": c.kind, "mail_from": c.mail_from, "rcpt": c.rcpt, "headers": c.headers,
             "body_id": body_id, "recipient_id": c.recipient_id, "status": "queued", "attempts": 0,
             "next_attempt_at": now} for c in copies]
    if not later_many(session, _ENQUEUE, rows):
        await session.execute(_ENQUEUE, rows)


async def enqueue_made(session: AsyncSession, copies: AsyncIterator[OutboundCopy], *, count: int, body_id: int,
                       now: datetime) -> None:
    """enqueue for `count` copies still being made (composed as they are taken). On PostgreSQL
    each goes to the server as soon as it is made (COPY from the iterator): the server writes
    the rows while the rest are composed, rather than after."""
    if not bulk(session, count):
        await enqueue(session, [copy async for copy in copies], body_id=body_id, now=now)
        return

    async def records() -> AsyncIterator[tuple[object, ...]]:
        async for c in copies:
            yield now, c.kind, c.mail_from, c.rcpt, c.headers, body_id, c.recipient_id, "queued", 0, now

    await copy_rows(session, "outbox", _ENQUEUE_COLUMNS, records())


async def enqueue_each(session: AsyncSession, messages: Sequence[tuple[OutboundCopy, bytes]], *,
                       now: datetime) -> None:
    """Queue messages that share nothing (each its own body), e.g. personal invitations."""
    if not messages:
        return
    result = await session.execute(insert(OutboxBody).returning(OutboxBody.id, sort_by_parameter_order=True),
                                   [{"data": blobs.inline(body), "created_at": now} for _, body in messages])
    body_ids = [row[0] for row in result.all()]
    for body_id, (_, body) in zip(body_ids, messages, strict=True):
        await blobs.put(session, blobs.OUTBOX_BODY, body_id, body)
    await session.execute(
        _ENQUEUE,
        [{"created_at": now, "kind": c.kind, "mail_from": c.mail_from, "rcpt": c.rcpt, "headers": c.headers,
          "body_id": body_id, "recipient_id": c.recipient_id, "status": "queued", "attempts": 0,
          "next_attempt_at": now} for (c, _), body_id in zip(messages, body_ids, strict=True)],
    )


async def claim_delivery(session: AsyncSession, inbound_id: int, keys: dict[str, str]) -> list[str]:
    """The recipients this message is new for: their keys are taken in this transaction, so a
    copy processed at the same time by another worker waits and then finds them taken."""
    statement = _CLAIM_KEY[session.get_bind().dialect.name]
    fresh = []
    for recipient, key in keys.items():
        result = await session.execute(statement, {"key": key, "inbound_id": inbound_id})
        if result.rowcount == 1:  # type: ignore[attr-defined]
            fresh.append(recipient)
    return fresh


async def claim_inbound(session: AsyncSession, claimer: Claimer, *, limit: int) -> list[int]:
    """Claim stored messages to process: one abandoned by a process that is gone, or else up to
    `limit` new ones.

    Each claim counts an attempt. A message is taken over alone, so when it is the one that
    kills its process, only its own attempts grow (to the limit that quarantines it), not
    those of the messages claimed with it.
    """
    taken = await _claim_inbound(session, claimer, and_(
        InboundMessage.status == "processing",
        abandoned(claimer, InboundMessage.claimed_by, InboundMessage.claimed_at)), limit=1)
    return taken or await _claim_inbound(session, claimer, InboundMessage.status == "new", limit=limit)


async def _claim_inbound(session: AsyncSession, claimer: Claimer, which: ColumnElement[bool], *,
                         limit: int) -> list[int]:
    candidates = select(InboundMessage.id).where(which).order_by(InboundMessage.id).limit(limit) \
        .with_for_update(skip_locked=True)
    result = await session.execute(
        update(InboundMessage)
        .where(InboundMessage.id.in_(candidates.scalar_subquery()))
        .values(status="processing", claimed_by=claimer.worker, claimed_at=claimer.now,
                attempts=InboundMessage.attempts + 1)
        .returning(InboundMessage.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(row[0] for row in result.all())


# The two queues a worker delivers from: mail copies for the relay, messages for the chats.
Queued = TypeVar("Queued", OutboxMessage, ChatMessage)


async def claim_due(session: AsyncSession, table: type[Queued], claimer: Claimer, *, limit: int,
                    only: ColumnElement[bool] | None = None) -> list[Queued]:
    """Claim due messages of a queue (those `only` allows): sending under a claimer that is
    gone, then queued and due, each the oldest due first.

    Two statements, each an ordered read of a partial index (models.base.under_way) that
    stops at the limit: the rows sent long ago are not in it, and on PostgreSQL the dead
    versions an index scan meets are marked and skipped from then on, vacuumed or not."""
    taken = await _claim_due(session, table, claimer, and_(
        _in(table, "sending"), abandoned(claimer, table.claimed_by, table.claimed_at)), only, limit=limit)
    if len(taken) < limit:
        taken += await _claim_due(session, table, claimer, and_(
            _in(table, "queued"), table.next_attempt_at <= claimer.now), only, limit=limit - len(taken))
    return sorted(taken, key=lambda row: row.id)


async def _claim_due(session: AsyncSession, table: type[Queued], claimer: Claimer, which: ColumnElement[bool],
                     only: ColumnElement[bool] | None, *, limit: int) -> list[Queued]:
    candidates = (
        select(table.id)
        .where(which, true() if only is None else only)
        .order_by(table.next_attempt_at, table.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(table)
        .where(table.id.in_(candidates.scalar_subquery()))
        .values(status="sending", claimed_by=claimer.worker, claimed_at=claimer.now)
        .returning(table)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars().all())


def _in(table: type[OutboxMessage] | type[ChatMessage], status: str) -> ColumnElement[bool]:
    """The rows in a status, the status written out in the statement (not a parameter): only
    then may the planner use the partial index of that status (SQLite's always, PostgreSQL's
    once a prepared statement's plan is generic)."""
    return table.status == literal_column(f"'{status}'")


async def next_due(session: AsyncSession, table: type[OutboxMessage] | type[ChatMessage],
                   only: ColumnElement[bool] | None = None) -> datetime | None:
    """When the next queued message of a queue (of those `only` allows) falls due (None: nothing queued)."""
    return await session.scalar(select(table.next_attempt_at).where(_in(table, "queued"))
                                .where(true() if only is None else only)
                                .order_by(table.next_attempt_at).limit(1))


def _counts(table: type[InboundMessage] | type[OutboxMessage], *which: ColumnElement[bool]) -> Select[Any]:
    """One row: how many rows of the table each condition picks, each counted apart."""
    return select(*(select(func.count()).select_from(table).where(one).scalar_subquery() for one in which))


# Each count reads only its own status's entries of an index: for inbound, the range of
# ix_inbound_status_id (a GROUP BY read every message ever processed, on every /healthz); for
# outbox, the partial index of its status (ix_outbox_queued, …).
_INBOUND_DEPTHS = _counts(InboundMessage, *(InboundMessage.status == s for s in ("new", "processing", "quarantined")))
_OUTBOUND_DEPTHS = _counts(OutboxMessage, *(_in(OutboxMessage, s) for s in ("queued", "sending", "failed")))


async def queue_depths(session: AsyncSession) -> dict[str, int]:
    """Counts for /healthz and /metrics: inbound waiting, outbound queued, quarantined, failed."""
    new, processing, quarantined = (await session.execute(_INBOUND_DEPTHS)).one()
    queued, sending, failed = (await session.execute(_OUTBOUND_DEPTHS)).one()
    return {"inbound_waiting": new + processing, "inbound_quarantined": quarantined,
            "outbound_queued": queued + sending, "outbound_failed": failed}


async def mark_sent(session: AsyncSession, copies: Sequence[OutboxMessage], *, worker: str, now: datetime) -> None:
    """The relay accepted these copies, which `worker` claimed: they are sent (those still the
    worker's), and their recipients' rows say so (the first time only)."""
    await session.execute(_COPIES_SENT, {"ids": [c.id for c in copies], "worker": worker, "now": now})
    for kind, statement in _RECIPIENTS_SENT.items():
        recipient_ids = [c.recipient_id for c in copies if c.recipient_id is not None and c.kind == kind]
        if recipient_ids:
            await session.execute(statement, {"ids": recipient_ids, "now": now})


async def mark_recipient_failed(session: AsyncSession, copy: OutboxMessage, reason: str | None) -> None:
    """A copy failed for good: its recipient's row says so, with the reason."""
    table = RECIPIENT_TABLES.get(copy.kind)
    if copy.recipient_id is not None and table is not None:
        await session.execute(update(table).where(table.id == copy.recipient_id).values(failed=True, reason=reason))


async def retry_outbound(session: AsyncSession, copy: OutboxMessage, now: datetime) -> None:
    """Queue a failed copy again, due now; its recipient's row loses the failure mark (a second
    failure marks it anew)."""
    copy.status, copy.next_attempt_at, copy.claimed_by, copy.claimed_at, copy.attempts = "queued", now, None, None, 0
    table = RECIPIENT_TABLES.get(copy.kind)
    if copy.recipient_id is not None and table is not None:
        await session.execute(update(table).where(table.id == copy.recipient_id, table.sent_at.is_(None))
                              .values(failed=False, reason=None))


async def reprocess_inbound(session: AsyncSession, inbound_id: int) -> None:
    """A stored message goes back to the inbox worker as if just stored (attempts from zero)."""
    await session.execute(update(InboundMessage).where(InboundMessage.id == inbound_id).values(
        status="new", claimed_by=None, claimed_at=None, attempts=0, reason=None, processed_at=None))


async def quarantined(session: AsyncSession, *, limit: int, before: int | None = None,
                      since: datetime | None = None) -> Sequence[Row[int, datetime, str, str, int, str | None, int]]:
    """The messages that could not be processed, newest first (id, received_at, mail_from,
    rcpt_tos, size, reason, attempts): for the admin page, the API and `inkless check`."""
    query = (select(InboundMessage.id, InboundMessage.received_at, InboundMessage.mail_from, InboundMessage.rcpt_tos,
                    InboundMessage.size, InboundMessage.reason, InboundMessage.attempts)
             .where(InboundMessage.status == "quarantined").order_by(InboundMessage.id.desc()).limit(limit))
    if before is not None:
        query = query.where(InboundMessage.id < before)
    if since is not None:
        query = query.where(InboundMessage.received_at >= since)
    return (await session.execute(query)).all()


async def failed_outbound(session: AsyncSession, *,
                          limit: int) -> Sequence[Row[int, datetime, str, str, int, str | None]]:
    """The copies the relay refused for good or that ran out of time, newest first (id,
    created_at, kind, rcpt, attempts, last_error)."""
    return (await session.execute(
        select(OutboxMessage.id, OutboxMessage.created_at, OutboxMessage.kind, OutboxMessage.rcpt,
               OutboxMessage.attempts, OutboxMessage.last_error)
        .where(_in(OutboxMessage, "failed")).order_by(OutboxMessage.id.desc()).limit(limit))).all()
