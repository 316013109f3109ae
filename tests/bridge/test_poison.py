"""No single message stops processing (SPEC §7), over real SMTP on both backends.

A message that cannot be processed or recorded ends in quarantine with a printable reason,
and the messages after it are processed; a message that keeps failing is quarantined after
a fixed number of attempts; a worker that makes no progress on its work turns /healthz 503.
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import parseaddr
from functools import partial
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from inkless import worker
from inkless.bridge import inbox
from inkless.bridge.app import Service
from inkless.handlers import index, publication
from inkless.storage import queries
from inkless.storage.models import AuditEntry, Document, InboundMessage
from inkless.storage.queries import containing
from tests.conftest import (
    DOMAIN,
    CaptureRelay,
    next_mail,
    simple_mail,
    smtp_send,
    wait_for,
)

SENDER = "fin-clerk@test.gov"
UNIT = f"edu@{DOMAIN}"
LATER = 100


async def send_documents(service: Service, prefix: str, count: int) -> None:
    for n in range(count):
        reply = await smtp_send(service.smtp_port, SENDER, [UNIT], simple_mail(SENDER, UNIT, f"[通知] {prefix} {n:03d}"))
        assert reply.startswith("250"), reply


async def inbound_rows(service: Service) -> dict[int, tuple[str, str | None]]:
    assert service.sessions is not None
    async with service.sessions() as session:
        rows = await session.execute(select(InboundMessage.id, InboundMessage.status, InboundMessage.reason))
        return {row.id: (row.status, row.reason) for row in rows}


async def documents_titled(service: Service, prefix: str) -> int:
    assert service.sessions is not None
    async with service.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Document)
                                        .where(Document.title.startswith(prefix))) or 0)


async def healthz(service: Service) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{service.web_port}/healthz") as response:
            return response.status, await response.json()


async def test_a_reply_with_undecodable_bytes_in_its_from_is_quarantined_and_the_queue_moves_on(
        service: Service, relay: CaptureRelay) -> None:
    await send_documents(service, "原件", 1)
    copy = await next_mail(relay, "edu-staff@test.gov")
    reply_to = parseaddr(str(copy["Reply-To"]))[1]
    # An outsider who got the copy answers it; the header From has \xff\xfe before the address.
    poison = (b"From: \xff\xfeoutsider@evil.example\r\nTo: " + reply_to.encode() + b"\r\n"
              b"Subject: Re: hello\r\nMessage-ID: <poison-1@evil.example>\r\n\r\nhello\r\n")
    assert (await smtp_send(service.smtp_port, "outsider@evil.example", [reply_to], poison)).startswith("250")
    await send_documents(service, "后来", LATER)

    async def all_processed() -> bool:
        return await documents_titled(service, "后来") == LATER
    await wait_for(all_processed, timeout=120, what=f"the {LATER} later messages to be processed")

    rows = await inbound_rows(service)
    quarantined = {status_reason for status_reason in rows.values() if status_reason[0] == "quarantined"}
    reason = "header From holds bytes that are not text: \\xff\\xfeoutsider@evil.example"
    assert quarantined == {("quarantined", reason)}
    assert sum(status == "done" for status, _ in rows.values()) == LATER + 1
    assert service.sessions is not None
    async with service.sessions() as session:
        audited = (await session.scalars(select(AuditEntry.detail).where(
            AuditEntry.action == "inbound.quarantined"))).all()
    assert audited == [{"reason": reason}]
    assert (await healthz(service))[0] == 200


NUL_MAIL = (f"From: {SENDER}\r\nTo: {UNIT}\r\nSubject: [通知] 有NUL\r\nMessage-ID: <nul-1@client.test>\r\n"
            "\r\nbody\x00with a NUL\r\n").encode()


@pytest.mark.parametrize("failing", ["once", "always"])
async def test_an_outcome_that_cannot_be_recorded_ends_in_quarantine(
        service: Service, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    real_record = inbox.record
    failures = []

    def record(session: Any, **entry: Any) -> None:
        if entry["action"].startswith("inbound.") and (failing == "always" or not failures):
            failures.append(entry)
            raise ValueError("the audit log refuses this entry")
        real_record(session, **entry)

    monkeypatch.setattr(inbox, "record", record)
    assert (await smtp_send(service.smtp_port, SENDER, [UNIT], NUL_MAIL)).startswith("250")
    await send_documents(service, "其后", 5)

    async def processed() -> bool:
        return await documents_titled(service, "其后") == 5
    await wait_for(processed, timeout=30, what="the later messages to be processed")
    [(status, reason)] = [row for row in (await inbound_rows(service)).values() if row[0] != "done"]
    expected = {
        "once": "cannot record the outcome quarantined (message contains NUL bytes): ValueError: the audit log "
                "refuses this entry",
        "always": "no outcome could be recorded; see the service log",
    }[failing]
    assert (status, reason) == ("quarantined", expected)


async def test_a_message_that_keeps_failing_is_quarantined_after_the_attempts(
        service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "RETRY_FIRST", 0.02)
    real_run = inbox.pipeline.run

    async def run(**kwargs: Any) -> Any:
        if b"X-Test: always-fails" in kwargs["inbound"].raw:
            raise ConnectionResetError("connection reset while processing")
        return await real_run(**kwargs)

    monkeypatch.setattr(inbox.pipeline, "run", run)
    failing = simple_mail(SENDER, UNIT, "[通知] 坏", extra="X-Test: always-fails")
    assert (await smtp_send(service.smtp_port, SENDER, [UNIT], failing)).startswith("250")
    await send_documents(service, "好", 3)

    async def processed() -> bool:
        return await documents_titled(service, "好") == 3
    await wait_for(processed, timeout=30, what="the messages after the failing one to be processed")
    [(status, reason)] = [row for row in (await inbound_rows(service)).values() if row[0] != "done"]
    assert (status, reason) == (
        "quarantined", f"processing failed {inbox.MAX_ATTEMPTS} times; the last: ConnectionResetError: connection "
                       "reset while processing")


async def test_healthz_reports_a_worker_that_makes_no_progress(
        make_service: Any, relay: CaptureRelay, monkeypatch: pytest.MonkeyPatch) -> None:
    service: Service = await make_service(relay, worker={"stall_after": 0.5})
    assert service.inbox is not None
    release = asyncio.Event()

    class Stuck:
        """The worker waits before each message for something that does not come."""

        async def quiet(self) -> None:
            await release.wait()

        def arriving(self) -> bool:
            return False

    # Not inside a transaction: on SQLite that would hold the write lock, and /healthz could
    # not read the database either.
    monkeypatch.setattr(service.inbox, "_pressure", Stuck())
    await send_documents(service, "卡住", 1)

    async def stalled() -> bool:
        return (await healthz(service))[0] == 503
    await wait_for(stalled, timeout=10, what="/healthz to report the stall")
    status, health = await healthz(service)
    assert health["status"] == "degraded"
    assert health["parts"]["inbox"].startswith("stalled: no progress for ")
    assert health["reason"].startswith("inbox: stalled: no progress for ")

    release.set()

    async def recovered() -> bool:
        return (await healthz(service))[0] == 200
    await wait_for(recovered, timeout=10, what="/healthz to be ok again")
    assert await documents_titled(service, "卡住") == 1


def watch_batches(service: Service, monkeypatch: pytest.MonkeyPatch, *,
                  arriving: bool) -> tuple[asyncio.Event, list[tuple[int, int]]]:
    """Hold the inbox worker before its work until the event is set, with mail arriving or
    not; each batch it then tries is listed as (messages, how many ended done)."""
    assert service.inbox is not None
    release = asyncio.Event()
    batches: list[tuple[int, int]] = []
    together = inbox.InboxWorker._process_together

    class Held:
        async def quiet(self) -> None:
            await release.wait()

        def arriving(self) -> bool:
            return arriving

    async def watched(self: inbox.InboxWorker, ids: list[int]) -> int:
        done = await together(self, ids)
        batches.append((len(ids), done))
        return done

    monkeypatch.setattr(service.inbox, "_pressure", Held())
    monkeypatch.setattr(inbox.InboxWorker, "_process_together", watched)
    return release, batches


async def claimed_count(service: Service, count: int) -> None:
    async def enough() -> bool:
        return sum(status == "processing" for status, _ in (await inbound_rows(service)).values()) == count
    await wait_for(enough, what=f"{count} message(s) claimed")


async def all_settled(service: Service) -> None:
    async def all_ended() -> bool:
        return all(status not in ("new", "processing") for status, _ in (await inbound_rows(service)).values())
    await wait_for(all_ended, timeout=30, what="every message to be processed")


async def test_a_message_that_fails_in_a_batch_costs_the_others_nothing(
        service: Service, relay: CaptureRelay, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small messages are processed several to a transaction; one that does not end done ends
    # the batch: what came before it commits, it is processed alone, and a batch goes on after
    # it. The others are issued once, with the numbers and the row ids they would have had
    # alone (none taken by the rolled-back attempt, on PostgreSQL's sequences either).
    release, batches = watch_batches(service, monkeypatch, arriving=False)
    claimed, settled = partial(claimed_count, service), partial(all_settled, service)

    # One message is claimed and waits; four documents and a refused one are stored meanwhile,
    # and claimed together after it.
    await send_documents(service, "批甲", 1)
    await claimed(1)
    await send_documents(service, "批乙", 2)
    refused = simple_mail(SENDER, UNIT, "[通知] 联合发文不成", "联合发文: 没有这个单位\n正文")
    assert (await smtp_send(service.smtp_port, SENDER, [UNIT], refused)).startswith("250")
    await send_documents(service, "批丙", 2)
    release.set()
    await settled()
    assert batches == [(5, 2), (2, 2)]
    # The same again without the refused one: the three go in one transaction.
    release.clear()
    await send_documents(service, "批丁", 1)
    await claimed(1)
    await send_documents(service, "批戊", 3)
    release.set()
    await settled()
    assert batches == [(5, 2), (2, 2), (3, 3)]

    statuses = sorted(status for status, _ in (await inbound_rows(service)).values())
    assert statuses == ["discarded"] + ["done"] * 9
    assert service.sessions is not None
    async with service.sessions() as session:
        rows = (await session.execute(select(Document.id, Document.serial).order_by(Document.id))).all()
    assert [tuple(row) for row in rows] == [(n, n) for n in range(1, 10)]
    await wait_for(lambda: len(relay.to(SENDER)) == 10, what="9 issued notices and the refusal")
    assert len([m for m in relay.messages if m.rcpt != SENDER]) == 9 * 3  # edu's three members, once each


async def test_a_message_that_fails_late_in_a_batch_leaves_no_audit_or_search_entry(
        service: Service, relay: CaptureRelay, monkeypatch: pytest.MonkeyPatch) -> None:
    # A document's audit entries and search entry wait for its batch's end (storage/later.py),
    # and so does what shows its number (queries.number_at_end). One that fails after making
    # them (here: in the publication check, once numbered, after its search entry) leaves
    # neither: not in the batch, which is rolled back and done again without it and those after
    # it (the next document takes its row id on SQLite, and its number), nor alone, where it
    # fails again and is quarantined.
    release, batches = watch_batches(service, monkeypatch, arriving=False)
    review = publication.review

    async def poisoned(session: Any, office: Any, document: Document, **kwargs: Any) -> None:
        if "有毒" in document.title:
            raise RuntimeError("a handler failed late")
        await review(session, office, document, **kwargs)

    monkeypatch.setattr(publication, "review", poisoned)
    await send_documents(service, "批甲", 1)
    await claimed_count(service, 1)
    await send_documents(service, "批乙", 2)
    await send_documents(service, "有毒", 1)
    await send_documents(service, "批丙", 2)
    release.set()
    await all_settled(service)
    # The batch of five failed at its end, at its third message: the first two again, then
    # the third alone, then the last two.
    assert batches == [(2, 2), (5, 2), (2, 2)]
    statuses = sorted(status for status, _ in (await inbound_rows(service)).values())
    assert statuses == ["done"] * 5 + ["quarantined"]
    assert service.sessions is not None
    async with service.sessions() as session:
        rows = (await session.execute(select(Document.id, Document.title, Document.serial).order_by(Document.id))).all()
        titles = {row.id: row.title for row in rows}
        entries = (await session.execute(select(AuditEntry.action, AuditEntry.subject_id)
                                         .where(AuditEntry.subject_type == "document"))).all()
        dialect = session.get_bind().dialect.name
        poisoned_found = list(await session.scalars(containing(dialect, "有毒")))
        found = {document_id: list(await session.scalars(containing(dialect, title)))
                 for document_id, title in titles.items()}
    # Numbers stay gapless; on SQLite the next document took the failed one's row id too (on
    # PostgreSQL the sequence skips the ids of the attempts).
    assert [row.serial for row in rows] == [1, 2, 3, 4, 5] and not any("有毒" in title for title in titles.values())
    assert sorted(entries) == sorted((action, str(n)) for n in titles
                                     for action in ("document.created", "document.issued"))
    assert poisoned_found == [] and found == {n: [n] for n in titles}


async def test_a_batch_reads_its_documents_files_before_it_takes_their_numbers(
        service: Service, relay: CaptureRelay, monkeypatch: pytest.MonkeyPatch) -> None:
    # From its end to its commit a batch holds the number counters of the units it issued for,
    # and another process issuing for one of them waits (queries.number_at_end). A file's text
    # takes a child process for Word and PDF (up to 20 s): a batch reads its documents' files
    # before it takes their numbers, not while it holds them.
    release, batches = watch_batches(service, monkeypatch, arriving=False)
    numbering = False
    read: list[tuple[str, bool]] = []  # (file, read while the batch held its numbers)
    take_numbers, read_text = queries.take_numbers, index.read_text

    async def taking(session: Any) -> None:
        nonlocal numbering
        numbering = True
        try:
            await take_numbers(session)
        finally:
            numbering = False

    async def reading(attachment: Any) -> str:
        read.append((attachment.filename, numbering))
        return await read_text(attachment)

    monkeypatch.setattr(queries, "take_numbers", taking)
    monkeypatch.setattr(index, "read_text", reading)

    async def send_with_file(n: int) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = SENDER, UNIT, f"[通知] 附件 {n}"
        message.set_content("正文")
        message.add_attachment(f"预算编制口径第{n}条".encode(), maintype="text", subtype="plain",
                               filename=f"说明{n}.txt")
        reply = await smtp_send(service.smtp_port, SENDER, [UNIT], message.as_bytes(policy=SMTP_POLICY))
        assert reply.startswith("250"), reply

    await send_with_file(0)
    await claimed_count(service, 1)
    for n in (1, 2, 3):
        await send_with_file(n)
    release.set()
    await all_settled(service)
    assert batches == [(3, 3)]  # the first alone, then the other three as one batch
    assert sorted(read) == [(f"说明{n}.txt", False) for n in range(4)]
    assert service.sessions is not None
    async with service.sessions() as session:
        dialect = session.get_bind().dialect.name
        found = [list(await session.scalars(containing(dialect, f"预算编制口径第{n}条"))) for n in range(4)]
        serials = list(await session.scalars(select(Document.serial).order_by(Document.id)))
    assert [len(ids) for ids in found] == [1] * 4 and len({ids[0] for ids in found}) == 4
    assert serials == [1, 2, 3, 4]


async def test_mail_arriving_ends_a_batch_after_the_message_under_way(
        service: Service, relay: CaptureRelay, monkeypatch: pytest.MonkeyPatch) -> None:
    # Processing gives way to the SMTP edge between messages: a batch ends early when mail
    # arrives, and what it did is kept.
    release, batches = watch_batches(service, monkeypatch, arriving=True)
    await send_documents(service, "忙甲", 1)

    async def claimed() -> bool:
        return any(status == "processing" for status, _ in (await inbound_rows(service)).values())
    await wait_for(claimed, what="the first message claimed")
    await send_documents(service, "忙乙", 3)
    release.set()

    async def processed() -> bool:
        return await documents_titled(service, "忙") == 4
    await wait_for(processed, timeout=30, what="all four documents")
    assert batches == [(3, 1)]  # then the message it stopped before alone, and the last one alone
    assert sorted(status for status, _ in (await inbound_rows(service)).values()) == ["done"] * 4
