"""Rows written many at once come back as the caller's: each recipient id (which every token
of that person's copy carries) is the row of that person, and document numbers stay gapless,
on both backends."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.storage import queries
from inkless.storage.models import Document, DocumentVersion, InboundMessage, OutboxMessage, Recipient
from inkless.storage.queries.queues import _INBOUND_DEPTHS
from tests.storage.conftest import NOW, new_document


async def test_each_recipient_id_is_the_row_of_that_person(sessions: async_sessionmaker[AsyncSession]) -> None:
    # Names in an order unlike their ids' and their emails', and more rows than one batch.
    people = [(5000 - i, f"staff{(i * 7919) % 2500:05d}@test.gov", f"第{i}人") for i in range(2500)]
    async with sessions() as session, session.begin():
        first = await new_document(session)
        # A document with recipients already, so ids and copy numbers differ.
        await queries.add_recipients(session, first, people[:3])
        second = await new_document(session)
        # Some sign for a unit, most do not: rows with and without a value, mixed.
        signs = [f"unit{i % 3}" if i % 5 == 0 else None for i in range(len(people))]
        ids = await queries.add_recipients(session, second, people, signs)
    assert len(set(ids)) == len(people)
    async with sessions() as session:
        rows = {row.id: row for row in await session.scalars(select(Recipient).where(Recipient.document_id == second))}
    for number, (recipient_id, (person_id, email, name)) in enumerate(zip(ids, people, strict=True), start=1):
        row = rows[recipient_id]
        assert (row.person_id, row.email, row.name, row.copy_number) == (person_id, email, name, number)
        assert row.signs_for == signs[number - 1]


async def test_document_numbers_count_up_per_unit_and_year(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        numbers = [await queries.next_document_serial(session, "office", 2026) for _ in range(3)]
        numbers.append(await queries.next_document_serial(session, "finance", 2026))
        numbers.append(await queries.next_document_serial(session, "office", 2027))
    async with sessions() as session, session.begin():
        numbers.append(await queries.next_document_serial(session, "office", 2026))
    async with sessions() as session:
        await session.begin()
        assert await queries.next_document_serial(session, "office", 2026) == 5
        await session.rollback()  # a rolled-back issue gives its number back
    async with sessions() as session, session.begin():
        numbers.append(await queries.next_document_serial(session, "office", 2026))
    assert numbers == [1, 2, 3, 1, 1, 4, 5]


async def test_a_batch_holding_one_counter_is_refused_another_held_elsewhere_rather_than_waiting(
        sessions: async_sessionmaker[AsyncSession], database_url: str) -> None:
    # Two processes' batches, each holding one unit's counter and asking for the other's,
    # deadlocked until PostgreSQL broke the cycle a second later (issue 21, bench/process --units).
    async with sessions() as session, session.begin():
        queries.wait_for_one_counter(session)  # nobody else holds one: a batch takes several
        taken = [await queries.next_document_serial(session, unit, 2026) for unit in ("office", "finance", "office")]
    assert taken == [1, 1, 2]
    if not database_url.startswith("postgresql"):
        return  # SQLite has one writer at a time: no transaction holds a counter another waits for
    async with sessions() as first, sessions() as second, sessions() as third:
        for batch in (first, second, third):
            await batch.begin()
            queries.wait_for_one_counter(batch)
        assert await queries.next_document_serial(first, "office", 2026) == 3
        assert await queries.next_document_serial(second, "finance", 2026) == 2
        with pytest.raises(DBAPIError) as refused:
            async with first.begin_nested():  # the message that asked ends its batch, rolled back
                await asyncio.wait_for(queries.next_document_serial(first, "finance", 2026), 30)
        assert getattr(refused.value.orig, "sqlstate", None) == "55P03"  # lock_not_available
        await first.commit()
        assert await queries.next_document_serial(second, "office", 2026) == 4
        # Holding none, a batch waits for its first counter: its number follows the holder's.
        waiting = asyncio.create_task(queries.next_document_serial(third, "office", 2026))
        await second.commit()
        assert await asyncio.wait_for(waiting, 30) == 5
        await third.commit()
    async with sessions() as session, session.begin():
        assert [await queries.next_document_serial(session, unit, 2026) for unit in ("office", "finance")] == [6, 3]


async def test_a_batch_numbers_its_documents_at_its_end_in_the_order_they_were_issued(
        sessions: async_sessionmaker[AsyncSession], database_url: str) -> None:
    # A batch keeps its documents' numbering for its end (one counter UPDATE per unit), so a
    # unit's counter is not held while the batch's other messages are processed.
    made: list[tuple[str, int]] = []

    def keep(session: AsyncSession, unit: str) -> None:
        async def numbered(serial: int) -> None:
            made.append((unit, serial))
        queries.when_numbered(session, unit, 2026, numbered)

    async with sessions() as batch:
        await batch.begin()
        queries.number_at_end(batch)
        for unit in ("office", "finance", "office"):
            keep(batch, unit)
        mark = queries.numbers_waiting(batch)
        keep(batch, "office")  # its message's savepoint is rolled back: it takes no number
        queries.forget_numbers(batch, mark)
        if database_url.startswith("postgresql"):
            # Nothing is locked until the end: another transaction numbers the unit meanwhile.
            async with sessions() as other, other.begin():
                assert await asyncio.wait_for(queries.next_document_serial(other, "office", 2026), 30) == 1
        await queries.take_numbers(batch)
        await batch.commit()
    first = 2 if database_url.startswith("postgresql") else 1
    assert made == [("office", first), ("finance", 1), ("office", first + 1)]
    async with sessions() as session, session.begin():
        assert [await queries.next_document_serial(session, unit, 2026) for unit in ("office", "finance")] == [
            first + 2, 2]

    # What a document does once numbered fails: which one is said, and the numbers go back.
    async def fails(serial: int) -> None:
        raise RuntimeError("composing failed")
    async with sessions() as batch:
        await batch.begin()
        queries.number_at_end(batch)
        keep(batch, "finance")
        queries.when_numbered(batch, "office", 2026, fails)
        with pytest.raises(queries.NumberingFailed) as failed:
            await queries.take_numbers(batch)
        assert failed.value.index == 1 and isinstance(failed.value.__cause__, RuntimeError)
        await batch.rollback()
    async with sessions() as session, session.begin():
        assert [await queries.next_document_serial(session, unit, 2026) for unit in ("office", "finance")] == [
            first + 3, 3]

    # The database going away meanwhile is no document's fault: it is not blamed on one.
    async def cut_off(serial: int) -> None:
        raise ConnectionResetError("connection reset by peer")
    async with sessions() as batch:
        await batch.begin()
        queries.number_at_end(batch)
        queries.when_numbered(batch, "office", 2026, cut_off)
        with pytest.raises(ConnectionResetError):
            await queries.take_numbers(batch)
        await batch.rollback()


@pytest.mark.parametrize("count", [3, 300], ids=["a-few", "many-at-once"])
async def test_queued_copies_keep_their_own_envelope_and_head_in_order(
        sessions: async_sessionmaker[AsyncSession], count: int) -> None:
    # 300 goes the bulk way on PostgreSQL (COPY), 3 through SQLAlchemy: the rows must not differ.
    copies = [queries.OutboundCopy(kind="document" if i % 4 else "notice", mail_from=f"bounce+d{i:x}-1-x@oa.test.gov",
                                   rcpt=f"staff{(i * 37) % count:05d}@test.gov",
                                   headers=f"Subject: 第{i}份\r\n".encode() * (i % 3 + 1) + bytes([0, 255]),
                                   recipient_id=None if i % 4 == 0 else 10_000 - i) for i in range(count)]
    async with sessions() as session, session.begin():
        body_id = await queries.add_outbox_body(session, b"the shared body\r\n", now=NOW)
        await queries.enqueue(session, copies, body_id=body_id, now=NOW)
    async with sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [(r.kind, r.mail_from, r.rcpt, r.headers, r.recipient_id) for r in rows] == [
        (c.kind, c.mail_from, c.rcpt, c.headers, c.recipient_id) for c in copies]
    assert {(r.body_id, r.status, r.attempts, r.created_at, r.next_attempt_at, r.claimed_by) for r in rows} == {
        (body_id, "queued", 0, NOW, NOW, None)}


async def test_a_document_written_at_once_reads_back_as_the_orm_writes_it(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    def made() -> Document:
        document = Document(unit_id="office", sender="clerk@test.gov", title="关于写入的通知", status="issued",
                            addressed_to="office", created_at=NOW, number="测办发〔2026〕1号")
        document.versions.append(DocumentVersion(version=1, created_at=NOW, body="正文\n"))
        return document

    async with sessions() as session, session.begin():
        by_orm = made()
        session.add(by_orm)
        await session.flush()
        at_once = made()
        await queries.add_document(session, at_once)
        # Every attribute is there to read (nothing is loaded lazily, which would fail here),
        # and a change made afterwards is written like any other.
        assert (at_once.direction, at_once.public, at_once.co_issuers, at_once.urgency) == ("outgoing", False, "", None)
        assert [version.document_id for version in at_once.versions] == [at_once.id]
        assert at_once.versions[0].attachments == []
        at_once.published_at = NOW
    columns = [c for c in Document.__table__.columns if c.key not in ("id", "published_at")]
    async with sessions() as session:
        rows = {row.id: row for row in (await session.execute(select(Document.__table__))).all()}
        versions = {v.document_id: (v.version, v.body) for v in await session.scalars(select(DocumentVersion))}
    assert [getattr(rows[at_once.id], c.key) for c in columns] == [getattr(rows[by_orm.id], c.key) for c in columns]
    assert rows[at_once.id].published_at == NOW and rows[by_orm.id].published_at is None
    assert versions[at_once.id] == versions[by_orm.id] == (1, "正文\n")


async def test_queue_depths_count_each_state_from_its_own_index_entries(
        sessions: async_sessionmaker[AsyncSession], database_url: str) -> None:
    # What /healthz and /metrics show; a busy county's inbound table holds every message ever
    # processed, and the count of those waiting must not read them all.
    states = {"done": 40, "new": 3, "processing": 2, "quarantined": 4, "discarded": 5}
    async with sessions() as session, session.begin():
        session.add_all(InboundMessage(received_at=NOW, mail_from="clerk@test.gov", rcpt_tos="all@oa.test.gov",
                                       raw=b"Subject: x\r\n\r\nx\r\n", size=17, status=status)
                        for status, count in states.items() for _ in range(count))
        body_id = await queries.add_outbox_body(session, b"the shared body\r\n", now=NOW)
        await queries.enqueue(session, [queries.OutboundCopy(kind="notice", mail_from="bounce@oa.test.gov",
                                                             rcpt=f"staff{i}@test.gov", headers=b"Subject: y\r\n",
                                                             recipient_id=None) for i in range(7)],
                              body_id=body_id, now=NOW)
    async with sessions() as session, session.begin():
        copies = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        for copy, status in zip(copies, ["sent", "sent", "sending", "failed"], strict=False):
            copy.status = status
    async with sessions() as session:
        assert await queries.queue_depths(session) == {
            "inbound_waiting": 5, "inbound_quarantined": 4, "outbound_queued": 4, "outbound_failed": 1}
        if database_url.startswith("sqlite"):
            connection = await session.connection()
            plan = "\n".join(row[-1] for row in await connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(_INBOUND_DEPTHS.compile(
                    dialect=connection.dialect, compile_kwargs={"literal_binds": True}))))
            assert "SCAN inbound" not in plan and plan.count("SEARCH inbound") == 3, plan
