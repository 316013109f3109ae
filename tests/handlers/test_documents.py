"""Documents end to end: mail in over SMTP, personal copies out through a real relay."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from email.utils import parseaddr

from sqlalchemy import event, select

from inkless.bridge.app import Service
from inkless.storage.models import Document, Recipient
from inkless.tokens import Token
from tests.conftest import (
    DOMAIN,
    TEST_ORG,
    CaptureRelay,
    simple_mail,
    smtp_send,
    wait_for,
)


async def send_document(service: Service, sender: str, units: list[str], subject: str, body: str = "正文") -> None:
    rcpts = [f"{unit}@{DOMAIN}" for unit in units]
    raw = simple_mail(sender, ", ".join(rcpts), subject, body)
    assert (await smtp_send(service.smtp_port, sender, rcpts, raw)).startswith("250")


async def documents(service: Service) -> list[Document]:
    assert service.sessions is not None
    async with service.sessions() as session:
        return list((await session.scalars(select(Document).order_by(Document.id))).all())


async def recipients(service: Service, document_id: int) -> list[Recipient]:
    assert service.sessions is not None
    async with service.sessions() as session:
        return list((await session.scalars(
            select(Recipient).where(Recipient.document_id == document_id).order_by(Recipient.id))).all())


async def test_issue_sends_one_copy_per_person_with_headers(service: Service, relay: CaptureRelay) -> None:
    # shared@ is in both finance and edu: one copy. The sender gets the "issued" notice only.
    await send_document(service, "clerk@test.gov", ["finance", "edu"], "[通知] 关于年终决算的通知", "请按时报送。")
    expected = {"fin-clerk@test.gov", "fin-staff@test.gov", "shared@test.gov", "edu-clerk@test.gov",
                "edu-staff@test.gov"}
    await wait_for(lambda: len(relay.messages) == len(expected) + 1, what="copies and notice at the relay")
    copies = [m for m in relay.messages if m.rcpt != "clerk@test.gov"]
    assert sorted(m.rcpt for m in copies) == sorted(expected)

    [document] = await documents(service)
    year = datetime.now(service.config.zone).year
    assert (document.status, document.type, document.title, document.number, document.unit_id) == (
        "issued", "通知", "关于年终决算的通知", f"延政办发〔{year}〕1号", "office")
    rows = {r.email: r for r in await recipients(service, document.id)}
    assert set(rows) == expected

    for copy in copies:
        message = copy.message
        row = rows[copy.rcpt]
        assert message["From"].addresses[0].addr_spec == f"office@{DOMAIN}"
        assert message["From"].addresses[0].display_name == "县政府办公室"
        assert message["To"].addresses[0].addr_spec == copy.rcpt
        assert message["Subject"] == f"[通知] 关于年终决算的通知（延政办发〔{year}〕1号）"
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Message-ID"] == f"<{service.signer.local_part(Token('reply', 'd', row.id, row.person_id))}@{DOMAIN}>"
        reply_local = message["Reply-To"].addresses[0].addr_spec.partition("@")[0]
        receipt_local = parseaddr(str(message["Disposition-Notification-To"]))[1].partition("@")[0]
        bounce_local = copy.mail_from.partition("@")[0]
        assert service.signer.verify(reply_local) == Token("reply", "d", row.id, row.person_id)
        assert service.signer.verify(receipt_local) == Token("receipt", "d", row.id, row.person_id)
        assert service.signer.verify(bounce_local) == Token("bounce", "d", row.id, row.person_id)
        text = message.get_body(("plain",)).get_content()
        assert "请按时报送。" in text
        ack = service.signer.local_part(Token("ack", "d", row.id, row.person_id))
        assert f"确认签收：http://inkless.test/ack/{ack}" in text

    [notice] = relay.to("clerk@test.gov")
    assert f"延政办发〔{year}〕1号" in notice.message["Subject"]
    assert f"http://inkless.test/documents/{document.id}" in notice.message.get_body(("plain",)).get_content()


async def test_sent_at_is_recorded_when_the_relay_accepts(service: Service, relay: CaptureRelay) -> None:
    await send_document(service, "fin-clerk@test.gov", ["edu"], "[函] 关于借用会议室的函")
    await wait_for(lambda: len(relay.messages) == 4, what="3 copies + notice")
    [document] = await documents(service)

    async def all_sent() -> bool:
        return all(r.sent_at is not None and not r.failed for r in await recipients(service, document.id))

    await wait_for(all_sent, what="sent_at on every recipient")
    assert document.number is not None and document.number.startswith("延财发〔")


async def test_numbers_are_gapless_per_unit_and_year(service: Service, relay: CaptureRelay) -> None:
    for index in range(3):
        await send_document(service, "fin-clerk@test.gov", ["edu"], f"[通知] 第{index}号")
    await send_document(service, "edu-clerk@test.gov", ["finance"], "[通知] 教育局发文")
    await wait_for(lambda: len(relay.messages) == 3 * 4 + 4, what="all copies")
    year = datetime.now(service.config.zone).year
    numbers = [d.number for d in await documents(service)]
    assert numbers == [f"延财发〔{year}〕1号", f"延财发〔{year}〕2号", f"延财发〔{year}〕3号", f"教育局〔{year}〕1号"]


async def test_mail_to_all_reaches_everyone_but_the_sender(service: Service, relay: CaptureRelay) -> None:
    await send_document(service, "boss@test.gov", ["all"], "[通告] 全县通告")
    people = {m["email"] for unit in TEST_ORG["units"] for m in unit["members"]}
    await wait_for(lambda: len(relay.messages) == len(people), what="one copy each + notice")
    assert sorted(m.rcpt for m in relay.messages) == sorted(people)


async def test_unit_with_approvers_waits_for_signoff(service: Service, relay: CaptureRelay) -> None:
    await send_document(service, "signed-clerk@test.gov", ["edu"], "[请示] 需要审批")
    await wait_for(lambda: len(relay.messages) == 1, what="the sign-off request")
    [document] = await documents(service)
    assert (document.status, document.number) == ("pending_approval", None)
    # Only the first approver is asked; no copies go out before sign-off.
    assert [m.rcpt for m in relay.messages] == ["signer@test.gov"]


async def test_tags_public_and_unknown_tag(service: Service, relay: CaptureRelay) -> None:
    await send_document(service, "fin-clerk@test.gov", ["edu"], "【公开】[公告] 关于政务公开的公告")
    await send_document(service, "fin-clerk@test.gov", ["edu"], "[紧急] 没有文种")
    # Two times three copies and a notice, and (财政局 has no approvers) a request to the county
    # office's leader to confirm the publication.
    await wait_for(lambda: len(relay.messages) == 9, what="copies")
    assert [m.rcpt for m in relay.messages if "待确认公开" in str(m.message["Subject"])] == ["boss@test.gov"]
    first, second = await documents(service)
    assert (first.type, first.public, first.title) == ("公告", True, "关于政务公开的公告")
    assert (second.type, second.public, second.title) == (None, False, "[紧急] 没有文种")


async def test_a_document_issued_as_it_came_in_reads_nothing_back(service: Service, relay: CaptureRelay) -> None:
    # Issued in the transaction that made it, without sign-off: its units are the ones just
    # recorded, it has no approvals and no search entry yet, so none of them is read back.
    assert service.worker_engine is not None
    read: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name() == "inbox" and statement.lstrip().upper().startswith("SELECT"):
            read.append(" ".join(statement.split()))

    event.listen(service.worker_engine.sync_engine, "before_cursor_execute", seen)
    try:
        # edu is copied (抄送) although it comes first in the mail.
        raw = simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 抄送教育局", extra=f"Cc: edu@{DOMAIN}")
        raw = raw.replace(f"To: edu@{DOMAIN}".encode(), f"To: office@{DOMAIN}".encode(), 1)
        rcpts = [f"edu@{DOMAIN}", f"office@{DOMAIN}"]
        assert (await smtp_send(service.smtp_port, "fin-clerk@test.gov", rcpts, raw)).startswith("250")
        await wait_for(lambda: any(m.rcpt == "edu-staff@test.gov" for m in relay.messages), what="a copy to edu")
    finally:
        event.remove(service.worker_engine.sync_engine, "before_cursor_execute", seen)
    [document] = await documents(service)
    assert (document.status, document.signer) == ("issued", "fin-clerk@test.gov")
    text = relay.to("edu-staff@test.gov")[0].message.get_body(("plain",)).get_content()
    assert "主送: 县政府办公室\n抄送: 教育局\n" in text.replace("\r\n", "\n")
    assert read and not [s for s in read if re.search(r"\bFROM (approvals|document_units|document_texts)\b", s)]
