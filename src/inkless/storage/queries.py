"""Queries shared by handlers, workers, web and CLI: numbering, queues, claims."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, false, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.attributes import set_committed_value

from inkless.storage import blobs
from inkless.storage.models import (
    Approval,
    Attachment,
    CalendarState,
    DeliveryKey,
    Document,
    DocumentCounter,
    DocumentVersion,
    InboundMessage,
    Lease,
    OutboxBody,
    OutboxMessage,
    Recipient,
)


async def next_document_serial(session: AsyncSession, unit_id: str, year: int) -> int:
    """The next document number of a unit in a year: gapless, safe across processes.

    The counter row is locked until the transaction ends, so a rolled-back issue gives
    its number back and two processes never take the same one.
    """
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert_fn(DocumentCounter).values(unit_id=unit_id, year=year, last=0).on_conflict_do_nothing()
    )
    row = await session.execute(
        update(DocumentCounter)
        .where(DocumentCounter.unit_id == unit_id, DocumentCounter.year == year)
        .values(last=DocumentCounter.last + 1)
        .returning(DocumentCounter.last)
    )
    return int(row.scalar_one())


async def add_recipients(
    session: AsyncSession, document_id: int, people: Sequence[tuple[int, str, str | None]]
) -> list[int]:
    """Insert recipient rows (person id, email, name); return their ids in the same order."""
    if not people:
        return []
    result = await session.execute(
        insert(Recipient).returning(Recipient.id, sort_by_parameter_order=True),
        [{"document_id": document_id, "person_id": pid, "email": email, "name": name, "failed": False}
         for pid, email, name in people],
    )
    return [row[0] for row in result.all()]


async def add_outbox_body(session: AsyncSession, data: bytes, *, now: datetime) -> int:
    # Values as execution parameters, never .values(): a compiled statement is cached with them.
    result = await session.execute(insert(OutboxBody).returning(OutboxBody.id),
                                   {"data": blobs.inline(data), "created_at": now})
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


async def inbound_raw(session: AsyncSession, inbound_id: int) -> bytes:
    """A stored message's bytes as they arrived."""
    raw = await session.scalar(select(InboundMessage.raw).where(InboundMessage.id == inbound_id))
    return raw or await blobs.get(session, blobs.INBOUND, inbound_id)


async def add_attachments(session: AsyncSession, version_id: int,
                          files: Sequence[tuple[str, str, bytes]]) -> None:
    """Keep a version's files (name, content type, bytes), in this order."""
    for filename, content_type, data in files:
        result = await session.execute(insert(Attachment).returning(Attachment.id), {
            "version_id": version_id, "filename": filename, "content_type": content_type, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "data": blobs.inline(data)})
        await blobs.put(session, blobs.ATTACHMENT, int(result.scalar_one()), data)


async def attachments_of(session: AsyncSession, version_id: int) -> list[Attachment]:
    """A version's files, in the order they came, each with its bytes."""
    attachments = list((await session.scalars(
        select(Attachment).where(Attachment.version_id == version_id).order_by(Attachment.id))).all())
    for attachment in attachments:
        if not attachment.data and attachment.size:
            set_committed_value(attachment, "data", await blobs.get(session, blobs.ATTACHMENT, attachment.id))
    return attachments


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
    await session.execute(
        insert(OutboxMessage),
        [{"created_at": now, "kind": c.kind, "mail_from": c.mail_from, "rcpt": c.rcpt, "headers": c.headers,
          "body_id": body_id, "recipient_id": c.recipient_id, "status": "queued", "attempts": 0,
          "next_attempt_at": now} for c in copies],
    )


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
        insert(OutboxMessage),
        [{"created_at": now, "kind": c.kind, "mail_from": c.mail_from, "rcpt": c.rcpt, "headers": c.headers,
          "body_id": body_id, "recipient_id": c.recipient_id, "status": "queued", "attempts": 0,
          "next_attempt_at": now} for (c, _), body_id in zip(messages, body_ids, strict=True)],
    )


async def bump_calendar(session: AsyncSession, now: datetime) -> None:
    """Tell every calendar feed it may have changed (feed ETags carry this generation)."""
    await session.execute(update(CalendarState).where(CalendarState.id == 1)
                          .values(generation=CalendarState.generation + 1, changed_at=now))


async def claim_delivery(session: AsyncSession, inbound_id: int, keys: dict[str, str]) -> list[str]:
    """The recipients this message is new for: their keys are taken in this transaction, so a
    copy processed at the same time by another worker waits and then finds them taken."""
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    fresh = []
    for recipient, key in keys.items():
        result = await session.execute(
            insert_fn(DeliveryKey).values(key=key, inbound_id=inbound_id).on_conflict_do_nothing())
        if result.rowcount == 1:  # type: ignore[attr-defined]
            fresh.append(recipient)
    return fresh


async def take_lease(session: AsyncSession, name: str, holder: str, *, now: datetime, seconds: float) -> bool:
    """Take or renew the lease `name` for `seconds`: yes when free, expired or already ours."""
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert_fn(Lease).values(name=name, holder=holder, expires_at=now + timedelta(seconds=seconds))
    statement = statement.on_conflict_do_update(
        index_elements=["name"], set_={"holder": holder, "expires_at": now + timedelta(seconds=seconds)},
        where=or_(Lease.expires_at < now, Lease.holder == holder))
    result = await session.execute(statement.returning(Lease.holder))
    return result.scalar_one_or_none() == holder


async def release_lease(session: AsyncSession, name: str, holder: str) -> None:
    await session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


# Each running process renews a lease named HEARTBEAT + its worker id (bridge/heartbeat.py).
HEARTBEAT = "process:"


async def beat(session: AsyncSession, holder: str, *, now: datetime, seconds: float, forget_after: float) -> None:
    """Renew this process's heartbeat for `seconds`, and forget heartbeats that ran out more than
    `forget_after` seconds ago (their claims fall under the plain claim lease by then)."""
    await take_lease(session, HEARTBEAT + holder, holder, now=now, seconds=seconds)
    await session.execute(delete(Lease).where(Lease.name.startswith(HEARTBEAT),
                                              Lease.expires_at < now - timedelta(seconds=forget_after)))


async def end_heartbeat(session: AsyncSession, holder: str, *, now: datetime) -> None:
    """Mark this process stopped: whatever it still holds can be taken over at once."""
    await session.execute(update(Lease).where(Lease.name == HEARTBEAT + holder, Lease.holder == holder)
                          .values(expires_at=now))


@dataclass(frozen=True)
class Claimer:
    """Who is claiming work, and what it may take over from others."""

    worker: str
    now: datetime
    # Claims older than this many seconds, by a process that left no heartbeat (a version
    # before heartbeats, say), are abandoned: worker.lease.
    lease: float
    # Claims made before this moment by anyone else are abandoned: with SQLite, a process that
    # found no other process running at its start knows their claimers are gone.
    alone_since: datetime | None = None
    # Whether others' heartbeats can be judged: not right after the database was away, when
    # every process's heartbeat ran out alike.
    heartbeats: bool = True


def abandoned(claimer: Claimer, claimed_by: InstrumentedAttribute[str | None],
              claimed_at: InstrumentedAttribute[datetime | None]) -> ColumnElement[bool]:
    """Claimed by another process that is gone: its heartbeat ran out; or it left none and the
    claim is older than the lease; or the claim predates a start that found nobody else."""
    gone: list[ColumnElement[bool]] = []
    if claimer.heartbeats:
        heartbeats = select(Lease.holder).where(Lease.name.startswith(HEARTBEAT))
        dead = heartbeats.where(Lease.expires_at < claimer.now)
        alive = heartbeats.where(Lease.expires_at >= claimer.now)
        gone += [claimed_by.in_(dead),
                 and_(claimed_at < claimer.now - timedelta(seconds=claimer.lease), claimed_by.not_in(alive))]
    if claimer.alone_since is not None:
        gone.append(claimed_at < claimer.alone_since)
    return and_(claimed_by != claimer.worker, or_(false(), *gone))


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


async def claim_outbox(session: AsyncSession, claimer: Claimer, *, limit: int) -> list[OutboxMessage]:
    """Claim due outbound messages (queued and due, or sending under a claimer that is gone)."""
    candidates = (
        select(OutboxMessage.id)
        .where(or_(and_(OutboxMessage.status == "queued", OutboxMessage.next_attempt_at <= claimer.now),
                   and_(OutboxMessage.status == "sending",
                        abandoned(claimer, OutboxMessage.claimed_by, OutboxMessage.claimed_at))))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates.scalar_subquery()))
        .values(status="sending", claimed_by=claimer.worker, claimed_at=claimer.now)
        .returning(OutboxMessage)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars().all(), key=lambda row: row.id)


async def queue_depths(session: AsyncSession) -> dict[str, int]:
    """Counts for /healthz and /metrics: inbound waiting, outbound queued, quarantined, failed."""
    inbound = dict((await session.execute(
        select(InboundMessage.status, func.count()).group_by(InboundMessage.status))).all())
    outbound = dict((await session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all())
    return {
        "inbound_waiting": inbound.get("new", 0) + inbound.get("processing", 0),
        "inbound_quarantined": inbound.get("quarantined", 0),
        "outbound_queued": outbound.get("queued", 0) + outbound.get("sending", 0),
        "outbound_failed": outbound.get("failed", 0),
    }


@dataclass(frozen=True)
class DocumentView:
    """A document with its versions, attachment metadata (no bytes) and recipients."""

    document: Document
    versions: list[DocumentVersion]
    attachments: dict[int, list[AttachmentMeta]]
    recipients: list[Recipient]
    approvals: list[Approval]


@dataclass(frozen=True)
class AttachmentMeta:
    filename: str
    content_type: str
    size: int
    sha256: str


async def document_views(session: AsyncSession, documents: Sequence[Document]) -> list[DocumentView]:
    """Load what the API, the tracking page and `inkless doc show` display, in few queries."""
    ids = [document.id for document in documents]
    if not ids:
        return []
    versions = (await session.scalars(
        select(DocumentVersion).where(DocumentVersion.document_id.in_(ids))
        .order_by(DocumentVersion.document_id, DocumentVersion.version))).all()
    version_ids = [version.id for version in versions]
    attachments: dict[int, list[AttachmentMeta]] = {}
    if version_ids:
        rows = await session.execute(
            select(Attachment.version_id, Attachment.filename, Attachment.content_type, Attachment.size,
                   Attachment.sha256).where(Attachment.version_id.in_(version_ids)).order_by(Attachment.id))
        for version_id, filename, content_type, size, sha256 in rows:
            attachments.setdefault(version_id, []).append(AttachmentMeta(filename, content_type, size, sha256))
    recipients = (await session.scalars(
        select(Recipient).where(Recipient.document_id.in_(ids)).order_by(Recipient.id))).all()
    approvals = (await session.scalars(
        select(Approval).where(Approval.document_id.in_(ids))
        .order_by(Approval.document_id, Approval.version, Approval.position))).all()
    by_document: dict[int, tuple[list[DocumentVersion], list[Recipient], list[Approval]]] = {
        i: ([], [], []) for i in ids}
    for version in versions:
        by_document[version.document_id][0].append(version)
    for recipient in recipients:
        by_document[recipient.document_id][1].append(recipient)
    for approval in approvals:
        by_document[approval.document_id][2].append(approval)
    views = []
    for document in documents:
        own_versions, own_recipients, own_approvals = by_document[document.id]
        views.append(DocumentView(document, own_versions, attachments, own_recipients, own_approvals))
    return views
