"""Documents: numbers, recipients, files, and what the tracking page, the API and the desk show."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, aliased, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from inkless.storage import blobs
from inkless.storage.bulk import bulk, fetch
from inkless.storage.engine import transient_database_error
from inkless.storage.later import later_many, write
from inkless.storage.models import (
    Approval,
    Attachment,
    Document,
    DocumentCounter,
    DocumentUnit,
    DocumentVersion,
    Evidence,
    IncomingCounter,
    Recipient,
)
from inkless.storage.models.base import table_of
from inkless.storage.upsert import insert_for
from inkless.storage.visibility import document_visible_to


async def add_document(session: AsyncSession, document: Document) -> None:
    """Write a new document and its versions, one INSERT each, and keep them in the session as
    if just loaded (later changes to them are written as usual). The ORM's flush of the same
    two objects was a seventh of a document's processing (issue 21)."""
    document.id = int((await session.execute(_ADD_DOCUMENT, _row_of(document))).scalar_one())
    for version in document.versions:
        version.document_id = document.id
        version.attachments = []  # none yet (add_attachments); loaded as such, not to be read lazily
        version.id = int((await session.execute(_ADD_VERSION, _row_of(version))).scalar_one())
        make_transient_to_detached(version)
    make_transient_to_detached(document)
    session.add(document)  # and its versions


def _row_of(instance: Document | DocumentVersion) -> dict[str, Any]:
    """A new object's column values for its INSERT, as the ORM would write them: each attribute
    set, else the column's default, else None (set on the object too: nothing is left to load)."""
    row: dict[str, Any] = {}
    mapper: Mapper[Any] = type(instance).__mapper__
    for attribute in mapper.column_attrs:
        column = attribute.columns[0]
        if column.primary_key:
            continue
        if attribute.key not in instance.__dict__:
            default = column.default
            setattr(instance, attribute.key, default.arg if isinstance(default, ScalarElementColumnDefault) else None)
        row[column.key] = instance.__dict__[attribute.key]
    return row


async def next_document_serial(session: AsyncSession, unit_id: str, year: int) -> int:
    """The next document number of a unit in a year: gapless, safe across processes.

    The counter row is locked until the transaction ends, so a rolled-back issue gives
    its number back and two processes never take the same one.
    """
    return await _next_serial(session, "document", unit_id, year)


async def next_incoming_serial(session: AsyncSession, unit_id: str, year: int) -> int:
    """The next incoming number (收文编号) of a unit in a year: gapless, like document numbers."""
    return await _next_serial(session, "incoming", unit_id, year)


def _counting(dialect: str, counter: type[DocumentCounter] | type[IncomingCounter]) -> ReturningInsert[Any]:
    # One statement for `last` more numbers: the first of a year inserts the row, every later
    # one adds to it (the row stays locked until the transaction ends).
    table = table_of(counter)
    statement = insert_for(dialect, table)
    return statement.on_conflict_do_update(index_elements=[table.c.unit_id, table.c.year],
                                           set_={"last": table.c.last + statement.excluded.last}).returning(table.c.last)


_NEXT_SERIAL = {(dialect, kind): _counting(dialect, counter) for dialect in ("postgresql", "sqlite")
                for kind, counter in (("document", DocumentCounter), ("incoming", IncomingCounter))}
_LOCK_COUNTER = {kind: select(table.c.last).where(table.c.unit_id == bindparam("unit_id"),
                                                  table.c.year == bindparam("year")).with_for_update(nowait=True)
                 for kind, table in (("document", table_of(DocumentCounter)), ("incoming", table_of(IncomingCounter)))}
_ADD_RECIPIENTS = insert(table_of(Recipient)).returning(table_of(Recipient).c.id, table_of(Recipient).c.copy_number)
_ADD_UNITS = insert(table_of(DocumentUnit))
_ADD_DOCUMENT = insert(table_of(Document)).returning(table_of(Document).c.id)
_ADD_VERSION = insert(table_of(DocumentVersion)).returning(table_of(DocumentVersion).c.id)
# add_recipients of many on PostgreSQL: one statement, the copy numbers from the arrays' order.
_PG_ADD_RECIPIENTS = (
    "INSERT INTO recipients (document_id, person_id, email, name, failed, signs_for, copy_number)"
    " SELECT $1, person_id, email, name, false, signs_for, copy_number"
    " FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[])"
    " WITH ORDINALITY AS recipient(person_id, email, name, signs_for, copy_number)"
    " RETURNING id, copy_number")


# session.info key: the counters a batch's transaction has taken (see wait_for_one_counter).
_COUNTERS_TAKEN = "inkless.counters_taken"


def wait_for_one_counter(session: AsyncSession) -> None:
    """In this session's transaction (a batch of messages), wait for a number counter only while
    holding none: once one is taken, a counter another transaction holds is refused at once
    (PostgreSQL: LockNotAvailable, SQLSTATE 55P03), so the caller ends its batch there.

    A counter row stays locked until its transaction ends. Two processes whose batches take two
    units' counters in opposite orders deadlocked, and PostgreSQL broke each deadlock only after
    deadlock_timeout (1 s): with documents of 8 units taking turns, 2 processes drained 48
    documents/s where one did 77 (bench/process.py --units 8), 45 deadlocks in 4,000 documents.
    A transaction that waits holding no counter can be in no such cycle. A counter taken in a
    savepoint rolled back since (its lock gone with it) still counts as taken, so it would be
    waited for; the inbox ends its batch at such a message, so none is asked for after it."""
    session.info[_COUNTERS_TAKEN] = set()


# session.info key: the outgoing numbers a batch takes at its end (see number_at_end).
_AT_END = "inkless.numbers_at_end"


def number_at_end(session: AsyncSession) -> None:
    """In this session's transaction (a batch of messages), outgoing documents are numbered at
    its end: each unit's counter taken once, for all its documents, after the batch's last
    message; then the numbered documents' copies, notices and search entries are made (they
    show the number), and whatever needs no number was done before (handlers/issue.py).

    A unit's counter row stays locked from the number taken to the commit. Taken as each
    document was issued, a batch of 50 held it for all that followed, and a second process
    issuing the same unit's documents waited for nearly all of it: 2 PostgreSQL processes
    drained 1.13-1.16x what one did, keeping 1.21-1.30 of 2 cores busy (bench/process.py;
    1.8x is SPEC §8's target). The documents' copies, notices and search entries show the
    number, so they are made at the end too (handlers/issue.py, `when_numbered`).
    The counters are taken in (unit, year) order, so two batches never wait on each other's."""
    session.info[_AT_END] = []


def numbering_at_end(session: AsyncSession) -> bool:
    """Whether this session's outgoing numbers wait for the end of its batch."""
    return _AT_END in session.info


def when_numbered(session: AsyncSession, unit_id: str, year: int, then: Callable[[int], Awaitable[None]]) -> None:
    """Keep `then` to be called with a document's serial by `take_numbers`, in this order."""
    session.info[_AT_END].append((unit_id, year, then))


def numbers_waiting(session: AsyncSession) -> int:
    """How many documents wait for a number: a mark for `forget_numbers`."""
    return len(session.info.get(_AT_END, ()))


def forget_numbers(session: AsyncSession, mark: int) -> None:
    """Forget the documents kept since `mark`: their message's savepoint was rolled back."""
    del session.info[_AT_END][mark:]


_SET_NUMBER = (update(table_of(Document)).where(table_of(Document).c.id == bindparam("document_id"))
               .values(serial=bindparam("new_serial"), number=bindparam("new_number")))


async def set_number(session: AsyncSession, document: Document, serial: int, number: str) -> None:
    """Give a document written without its number (numbered at its batch's end) its number: as
    written in the session at once, in the database with the batch's others (storage/later.py,
    one statement for all). Through the ORM, each was an UPDATE of its own and a fifth more
    CPU per document (bench/process.py)."""
    set_committed_value(document, "serial", serial)
    set_committed_value(document, "number", number)
    values = {"document_id": document.id, "new_serial": serial, "new_number": number}
    if not later_many(session, _SET_NUMBER, [values]):
        await session.execute(_SET_NUMBER, values)


class NumberingFailed(Exception):
    """What a document does once numbered (`then`) failed: `index` says which of those waiting
    (in the order they were kept); the error is its __cause__."""

    def __init__(self, index: int) -> None:
        super().__init__(f"document {index + 1} waiting for its number")
        self.index = index


async def take_numbers(session: AsyncSession) -> None:
    """Number the documents waiting, in the order they were kept (each unit's counter once, units
    in order), and call each one's `then` with its serial, in the same order; NumberingFailed
    when one fails (the transaction is to be rolled back: its numbers are taken). A database
    that went away (transient_database_error) is no fault of that document: it is raised as
    it is, so that the batch is tried again later rather than its document blamed for it."""
    waiting: list[tuple[str, int, Callable[[int], Awaitable[None]]]] = session.info.get(_AT_END, [])
    count = Counter((unit_id, year) for unit_id, year, _ in waiting)
    dialect = session.get_bind().dialect.name
    following: dict[tuple[str, int], int] = {}  # the serial each counter gives next
    for (unit_id, year), many in sorted(count.items()):
        last = (await session.execute(_NEXT_SERIAL[dialect, "document"],
                                      {"unit_id": unit_id, "year": year, "last": many})).scalar_one()
        following[unit_id, year] = int(last) - many + 1
    for index, (unit_id, year, then) in enumerate(waiting):
        serial = following[unit_id, year]
        following[unit_id, year] = serial + 1
        try:
            await then(serial)
        except Exception as exc:
            if transient_database_error(exc):
                raise
            raise NumberingFailed(index) from exc
    waiting.clear()


async def _next_serial(session: AsyncSession, kind: str, unit_id: str, year: int) -> int:
    dialect = session.get_bind().dialect.name
    taken: set[tuple[str, str, int]] | None = session.info.get(_COUNTERS_TAKEN)
    if taken and dialect == "postgresql" and (kind, unit_id, year) not in taken:
        # Lock it without waiting, or fail. A counter's first row of a year is inserted, and an
        # insert racing another may still wait: once per unit and year.
        await session.execute(_LOCK_COUNTER[kind], {"unit_id": unit_id, "year": year})
    row = await session.execute(_NEXT_SERIAL[dialect, kind], {"unit_id": unit_id, "year": year, "last": 1})
    if taken is not None:
        taken.add((kind, unit_id, year))
    return int(row.scalar_one())


async def add_recipients(
    session: AsyncSession, document_id: int, people: Sequence[tuple[int, str, str | None]],
    signs_for: Sequence[str | None] | None = None,
) -> list[int]:
    """Insert recipient rows (person id, email, name, and the units each signs for, one per
    line), numbered 1, 2, … in this order (份号); return their ids in the same order."""
    if not people:
        return []
    units = signs_for if signs_for is not None else [None] * len(people)
    if bulk(session, len(people)):
        person_ids, emails, names = zip(*people, strict=True)
        rows = await fetch(session, _PG_ADD_RECIPIENTS, document_id, list(person_ids), list(emails), list(names),
                           list(units))
        numbered = {int(copy_number): int(recipient_id) for recipient_id, copy_number in rows}
        return [numbered[number] for number in range(1, len(people) + 1)]
    # Each id is matched to its row by the copy number it comes back with, not by position:
    # SQLite returns the rows of a multi-row INSERT in no promised order, and asking for the
    # parameters' order makes SQLAlchemy insert one row per statement there (10,000 for a
    # fan-out). A recipient's id is in their tokens: it must be theirs. Every row names every
    # column (None too), so the rows stay one multi-row statement.
    result = await session.execute(
        _ADD_RECIPIENTS,
        [{"document_id": document_id, "person_id": pid, "email": email, "name": name, "failed": False,
          "signs_for": signs, "copy_number": number}
         for number, ((pid, email, name), signs) in enumerate(zip(people, units, strict=True), start=1)],
    )
    ids = {copy_number: int(recipient_id) for recipient_id, copy_number in result.all()}
    return [ids[number] for number in range(1, len(people) + 1)]


async def add_document_units(session: AsyncSession, document_id: int, units: Sequence[tuple[str, str]]) -> None:
    """Record the units a document is addressed to: (unit id, main | copy)."""
    rows = [{"document_id": document_id, "unit_id": unit_id, "role": role} for unit_id, role in units]
    if rows and not later_many(session, _ADD_UNITS, rows):
        await session.execute(_ADD_UNITS, rows)


async def units_of(session: AsyncSession, document_ids: Sequence[int]) -> dict[int, list[DocumentUnit]]:
    """The addressed units of these documents, main first, in the order they were addressed."""
    found: dict[int, list[DocumentUnit]] = {document_id: [] for document_id in document_ids}
    if document_ids:
        await write(session)  # units added in this transaction may still wait (storage/later.py)
        rows = await session.scalars(select(DocumentUnit).where(DocumentUnit.document_id.in_(document_ids))
                                     .order_by(DocumentUnit.document_id, DocumentUnit.id))
        for row in rows:
            found[row.document_id].append(row)
        for rows_of in found.values():
            rows_of.sort(key=lambda row: row.role != "main")
    return found


async def sign_for_units(session: AsyncSession, recipient: Recipient, *, now: datetime) -> list[str]:
    """A recipient acknowledged: the units they sign for that had not signed yet are signed
    for now, by them (签收). Returns those units."""
    units = [unit for unit in (recipient.signs_for or "").split("\n") if unit]
    if not units:
        return []
    result = await session.execute(
        update(DocumentUnit).where(DocumentUnit.document_id == recipient.document_id,
                                   DocumentUnit.unit_id.in_(units), DocumentUnit.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=recipient.email).returning(DocumentUnit.unit_id))
    return [row[0] for row in result.all()]


async def final_approver(session: AsyncSession, document_id: int, version: int, unit_id: str) -> str | None:
    """The 签发人 of a version: the last approver of the issuing unit's chain to approve it (the
    member, when a delegate decided for them); None when that unit has no chain."""
    rows = (await session.execute(
        select(Approval.approver, Approval.unit_id).where(
            Approval.document_id == document_id, Approval.version == version, Approval.decision == "approve")
        .order_by(Approval.decided_at, Approval.position))).all()
    own = [approver for approver, unit in rows if unit in (unit_id, None)]
    return own[-1] if own else None


async def latest_version(session: AsyncSession, document_id: int) -> DocumentVersion:
    """A document's latest version."""
    version = await session.scalar(select(DocumentVersion).where(DocumentVersion.document_id == document_id)
                                   .order_by(DocumentVersion.version.desc()).limit(1))
    assert version is not None, "every document has a first version"
    return version


async def document_of_copy(session: AsyncSession, recipient_id: int) -> Document | None:
    """The document a recipient's copy is of."""
    return await session.scalar(select(Document).join(Recipient, Recipient.document_id == Document.id)
                                .where(Recipient.id == recipient_id))


async def children_of(session: AsyncSession, document_ids: Sequence[int]) -> list[Document]:
    """The documents that forward these (转发), oldest first."""
    if not document_ids:
        return []
    return list((await session.scalars(select(Document).where(Document.parent_id.in_(document_ids))
                                       .order_by(Document.id))).all())


@dataclass(frozen=True)
class Cascade:
    """A document and every forward of it below (转发 of 转发 …), with each one's units, and
    which of them a reader may see in full (None: all)."""

    root: Document
    below: list[Document]
    units: dict[int, list[DocumentUnit]]
    visible: set[int] | None


async def cascade(session: AsyncSession, root: Document, *, reader: str | None,
                  principals: Sequence[str] = ()) -> Cascade:
    """What the tree API and the tracking page show of a document's forwards, in few queries;
    drafts the reader may not see are nodes without their text (their unit and status only)."""
    below = await descendants(session, root.id)
    ids = [root.id] + [document.id for document in below]
    units = await units_of(session, ids)
    visible = None
    if reader is not None:
        visible = set((await session.scalars(select(Document.id).where(
            Document.id.in_(ids), document_visible_to(reader, principals)))).all())
    return Cascade(root, below, units, visible)


async def descendants(session: AsyncSession, document_id: int, *, depth: int = 50) -> list[Document]:
    """Every document forwarding this one, at any level (转发 of 转发 …), level by level."""
    found: list[Document] = []
    level = [document_id]
    for _ in range(depth):
        children = await children_of(session, level)
        if not children:
            break
        found += children
        level = [child.id for child in children]
    return found


async def unsigned_units(session: AsyncSession, person_id: int, unit_ids: Sequence[str], *,
                         limit: int) -> list[tuple[DocumentUnit, Document, Recipient | None]]:
    """Issued documents these units have not signed for yet, newest first, each with the
    person's own copy of it (None if they got none)."""
    if not unit_ids:
        return []
    rows = await session.execute(
        select(DocumentUnit, Document, Recipient).join(Document, Document.id == DocumentUnit.document_id)
        .outerjoin(Recipient, (Recipient.document_id == Document.id) & (Recipient.person_id == person_id))
        .where(DocumentUnit.unit_id.in_(unit_ids), DocumentUnit.acknowledged_at.is_(None),
               Document.status == "issued")
        .order_by(urgent_first(), Document.issued_at.desc(), Document.id.desc()).limit(limit))
    return [(unit, document, recipient) for unit, document, recipient in rows]


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
class DocumentView:
    """A document with its versions, attachment metadata (no bytes) and recipients."""

    document: Document
    versions: list[DocumentVersion]
    attachments: dict[int, list[AttachmentMeta]]
    recipients: list[Recipient]
    approvals: list[Approval]
    units: list[DocumentUnit]
    # The 批复 that answer this document (a 请示).
    answered_by: list[int]


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
    units = await units_of(session, ids)
    answers: dict[int, list[int]] = {i: [] for i in ids}
    for answer_id, request_id in await session.execute(
            select(Document.id, Document.answers_id).where(Document.answers_id.in_(ids)).order_by(Document.id)):
        if request_id is not None:
            answers[request_id].append(answer_id)
    views = []
    for document in documents:
        own_versions, own_recipients, own_approvals = by_document[document.id]
        views.append(DocumentView(document, own_versions, attachments, own_recipients, own_approvals,
                                  units[document.id], answers[document.id]))
    return views


def urgent_first() -> ColumnElement[int]:
    """Order by urgency: 特急, then 加急, then the rest."""
    return case((Document.urgency == "特急", 0), (Document.urgency == "加急", 1), else_=2)


async def pending_approvals(session: AsyncSession, person_id: int,
                            principals: Sequence[int] = ()) -> list[tuple[Approval, Document, str]]:
    """The approvals a person can decide now (asked, undecided, of the latest version of a
    document still awaiting sign-off) — their own and those of the members they are the
    delegate of — urgent ones first, then oldest request first, each with that version's text."""
    newer = aliased(DocumentVersion)
    latest = select(func.max(newer.version)).where(newer.document_id == Approval.document_id).scalar_subquery()
    rows = await session.execute(
        select(Approval, Document, DocumentVersion.body)
        .join(Document, Document.id == Approval.document_id)
        .join(DocumentVersion, (DocumentVersion.document_id == Approval.document_id)
              & (DocumentVersion.version == Approval.version))
        .where(Approval.person_id.in_([person_id, *principals]), Approval.decision.is_(None),
               Approval.asked_at.is_not(None), Document.status == "pending_approval", Approval.version == latest)
        .order_by(urgent_first(), Approval.asked_at, Approval.id))
    return [(approval, document, body) for approval, document, body in rows]


async def unacknowledged(session: AsyncSession, person_id: int, *,
                         limit: int) -> tuple[list[tuple[Recipient, Document]], int]:
    """A person's copies of issued documents not yet acknowledged: the newest `limit`, and how many in all."""
    where = (Recipient.person_id == person_id, Recipient.acknowledged_at.is_(None), Document.status == "issued")
    total = await session.scalar(select(func.count()).select_from(Recipient)
                                 .join(Document, Document.id == Recipient.document_id).where(*where))
    rows = await session.execute(select(Recipient, Document).join(Document, Document.id == Recipient.document_id)
                                 .where(*where).order_by(urgent_first(), Document.issued_at.desc(), Document.id.desc())
                                 .limit(limit))
    return [(recipient, document) for recipient, document in rows], int(total or 0)


async def receipts_of(session: AsyncSession, person_id: int, document_ids: Sequence[int]) -> dict[int, Recipient]:
    """A person's own copies of these documents, by document."""
    if not document_ids:
        return {}
    rows = await session.scalars(select(Recipient).where(Recipient.person_id == person_id,
                                                         Recipient.document_id.in_(document_ids)))
    return {row.document_id: row for row in rows}


async def attachment_at(session: AsyncSession, version_id: int, position: int) -> Attachment | None:
    """A version's file at a 1-based position, with its bytes (only that one's)."""
    if position < 1:
        return None
    attachment = await session.scalar(select(Attachment).where(Attachment.version_id == version_id)
                                      .order_by(Attachment.id).offset(position - 1).limit(1))
    if attachment is not None and not attachment.data and attachment.size:
        set_committed_value(attachment, "data", await blobs.get(session, blobs.ATTACHMENT, attachment.id))
    return attachment


async def attachment_names(session: AsyncSession, document_ids: Sequence[int]) -> dict[int, list[str]]:
    """The file names of each document's latest version, in order (for links to them)."""
    if not document_ids:
        return {}
    latest = (select(DocumentVersion.document_id, func.max(DocumentVersion.id).label("version_id"))
              .where(DocumentVersion.document_id.in_(document_ids)).group_by(DocumentVersion.document_id).subquery())
    rows = await session.execute(select(latest.c.document_id, Attachment.filename)
                                 .join(Attachment, Attachment.version_id == latest.c.version_id)
                                 .order_by(Attachment.id))
    names: dict[int, list[str]] = {}
    for document_id, filename in rows:
        names.setdefault(document_id, []).append(filename)
    return names


async def held_for_publication(session: AsyncSession, unit_ids: Sequence[str]) -> list[Document]:
    """Issued [公开] documents of these units still waiting for a leader to confirm publication."""
    if not unit_ids:
        return []
    return list((await session.scalars(select(Document).where(
        Document.unit_id.in_(unit_ids), Document.public.is_(True), Document.status == "issued",
        Document.published_at.is_(None)).order_by(Document.id.desc()).limit(50))).all())


async def decidable(session: AsyncSession, approval: Approval, document: Document) -> bool:
    """Whether an approval can be decided now: asked (it is the approver's turn), undecided, of
    the latest version, and its document still awaiting sign-off. The mail reply, the desk and
    the bot ask this alike, so none of them lets anyone decide out of turn or a stale version."""
    latest = await session.scalar(select(func.max(DocumentVersion.version))
                                  .where(DocumentVersion.document_id == document.id))
    return (approval.asked_at is not None and approval.decision is None
            and document.status == "pending_approval" and approval.version == latest)


async def receipt_counts(session: AsyncSession, *, limit: int
                         ) -> list[tuple[int, str | None, str, str, str, int | None, int | None, int | None]]:
    """The newest documents with their receipts: (id, number, status, unit, title, recipients,
    sent, read); the counts are None for a document without recipients."""
    counts = (select(Recipient.document_id, func.count().label("total"), func.count(Recipient.sent_at).label("sent"),
                     func.count(Recipient.read_at).label("read"))
              .group_by(Recipient.document_id).subquery())
    rows = await session.execute(
        select(Document.id, Document.number, Document.status, Document.unit_id, Document.title,
               counts.c.total, counts.c.sent, counts.c.read)
        .outerjoin(counts, counts.c.document_id == Document.id).order_by(Document.id.desc()).limit(limit))
    return [tuple(row) for row in rows.all()]


async def decision_evidence(session: AsyncSession, document_id: int) -> list[tuple[Approval, Evidence]]:
    """Every decision on a document with what it rests on, in the order they came."""
    return list((await session.execute(
        select(Approval, Evidence).join(Evidence, Evidence.approval_id == Approval.id)
        .where(Approval.document_id == document_id).order_by(Evidence.id))).tuples().all())
