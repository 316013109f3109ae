"""IMAP ingress against a real Dovecot: mail delivered into the mailbox Inkless reads is
processed exactly as over SMTP, IDLE picks new mail up at once, a crashed server is
reconnected to with nothing lost or doubled, a UIDVALIDITY change processes nothing twice,
and a backlog that arrived while Inkless was down is all processed after start."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from typing import Any

import aiohttp
import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from inkless.bridge.app import Service
from inkless.storage.models import Document, InboundMessage
from tests.bridge.dovecot import PASSWORD, USER, Dovecot, private_dovecot
from tests.conftest import (
    DOMAIN,
    TEST_ORG,
    CaptureRelay,
    api,
    next_mail,
    settled,
    simple_mail,
    wait_for,
)
from tests.handlers.replies import reply

FINANCE = ["fin-clerk@test.gov", "fin-staff@test.gov", "shared@test.gov"]


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with private_dovecot() as server:
        yield server


def imap_settings(dovecot: Dovecot, **options: Any) -> list[dict[str, Any]]:
    return [{"url": dovecot.url, "idle": True, "poll_interval": 3600, **options}]


async def deliver(dovecot: Dovecot, raw: bytes, *, sender: str | None = None) -> None:
    """Deliver as the county's server would mail from the header From's own envelope (the
    Return-Path then names the author, as Inkless requires), or from `sender`."""
    if sender is None:
        sender = parseaddr(BytesHeaderParser().parsebytes(raw)["From"])[1]
    await asyncio.to_thread(dovecot.deliver, raw, sender=sender)


def with_return_path(raw: bytes) -> bytes:
    """A message as the MTA that delivered it wrote it: a Return-Path of its header From."""
    sender = parseaddr(BytesHeaderParser().parsebytes(raw)["From"])[1]
    return f"Return-Path: <{sender}>\r\n".encode() + raw


async def count(service: Service, model: Any, *conditions: Any) -> int:
    assert service.sessions is not None
    async with service.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


async def health(service: Service) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{service.web_port}/healthz") as response:
            return await response.json()  # type: ignore[no-any-return]


async def imap_state(service: Service) -> str:
    parts = (await health(service))["parts"]
    [state] = [value for name, value in parts.items() if name.startswith("imap:")]
    return str(state)


def server_flags(dovecot: Dovecot) -> list[tuple[bytes, ...]]:
    with IMAPClient("127.0.0.1", port=dovecot.imap_port, ssl=False) as client:
        client.login(USER, PASSWORD)
        client.select_folder("INBOX", readonly=True)
        return [data[b"FLAGS"] for data in client.fetch(client.search("ALL"), ["FLAGS"]).values()]


async def test_documents_approvals_and_rsvps_arrive_through_the_mailbox(
        make_service: Any, relay: CaptureRelay, dovecot: Dovecot) -> None:
    service: Service = await make_service(relay, imap=imap_settings(dovecot))
    # A document: the unit address is recovered from To (Delivered-To names the mailbox).
    await deliver(dovecot, simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 经IMAP收到的通知", "正文"))
    copy = await next_mail(relay, "edu-staff@test.gov")
    assert copy["Subject"].startswith("[通知] 经IMAP收到的通知")

    # Sign-off: the request goes out; the approver's reply comes back through the mailbox.
    await deliver(dovecot, simple_mail("signed-clerk@test.gov", f"edu@{DOMAIN}", "[请示] 经IMAP的请示", "请批准。"))
    request = await next_mail(relay, "signer@test.gov")
    await deliver(dovecot, reply(request, "signer@test.gov", "同意"))
    await next_mail(relay, "chief@test.gov")

    # A meeting and an answer to it.
    await deliver(dovecot, simple_mail("clerk@test.gov", f"finance@{DOMAIN}", "[会议] 经IMAP的会议",
                                       "时间：2026-12-03 09:30-11:00\n"))
    invitation = await next_mail(relay, "fin-staff@test.gov")
    await deliver(dovecot, reply(invitation, "fin-staff@test.gov", "参加"))

    async def five_stored() -> bool:
        return await count(service, InboundMessage) >= 5
    await wait_for(five_stored, what="the answer to be stored")
    inbound = await settled(service)
    assert [(m.source, m.status) for m in inbound] == [("imap", "done")] * 5
    [event] = (await api(service, "/api/v1/events"))["items"]
    assert {a["email"]: a["partstat"] for a in event["attendees"]}["fin-staff@test.gov"] == "ACCEPTED"
    documents = (await api(service, "/api/v1/documents"))["items"]
    signed = next(d for d in documents if d["title"] == "经IMAP的请示")
    assert [a["decision"] for a in signed["approvals"]] == ["approve", None]
    # Every message was marked processed on the server, after it was stored.
    await wait_for(lambda: all(b"$InklessProcessed" in flags and b"\\Seen" in flags
                               for flags in server_flags(dovecot)), what="the mail to be flagged on the server")
    assert len(server_flags(dovecot)) == 5
    assert (await imap_state(service)) == "ok"


async def test_idle_picks_new_mail_up_without_waiting_for_a_poll(
        make_service: Any, relay: CaptureRelay, dovecot: Dovecot) -> None:
    service: Service = await make_service(relay, imap=imap_settings(dovecot, poll_interval=3600))
    await wait_for(lambda: service.imap[0].state == "ok", what="the mailbox to be read")
    loop = asyncio.get_running_loop()
    delivered = loop.time()
    await deliver(dovecot, simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] IDLE", "正文"))
    # The poll interval is an hour: only IDLE can bring it in within the wait.
    await wait_for(lambda: count(service, InboundMessage), timeout=15, what="IDLE to bring the message in")
    assert loop.time() - delivered < 15 < service.config.imap[0].poll_interval


async def test_a_crashed_server_is_reconnected_to_with_nothing_lost_or_doubled(
        make_service: Any, relay: CaptureRelay, dovecot: Dovecot) -> None:
    service: Service = await make_service(relay, imap=imap_settings(dovecot))
    for n in range(3):
        await deliver(dovecot, simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", f"[通知] 崩溃前{n}", "正文"))
    await wait_for(lambda: count(service, Document), what="three documents")
    await settled(service)

    await asyncio.to_thread(dovecot.kill)
    await wait_for(lambda: service.imap[0].state.startswith("reconnecting"), timeout=20, what="reconnecting")
    assert (await health(service))["status"] == "degraded"
    await asyncio.to_thread(dovecot.start)
    for n in range(3):
        await deliver(dovecot, simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", f"[通知] 崩溃后{n}", "正文"))

    async def six_documents() -> bool:
        return await count(service, Document) >= 6
    await wait_for(six_documents, timeout=30, what="the documents sent after the restart")
    inbound = await settled(service)
    assert len(inbound) == 6 and {m.status for m in inbound} == {"done"}
    titles = sorted(d["title"] for d in (await api(service, "/api/v1/documents"))["items"])
    assert titles == sorted([f"崩溃前{n}" for n in range(3)] + [f"崩溃后{n}" for n in range(3)])
    assert (await imap_state(service)) == "ok"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{service.web_port}/metrics") as response:
            metrics = await response.text()
    name = service.imap[0].name
    assert f'inkless_imap_reconnects_total{{mailbox="{name}"}}' in metrics
    assert f'inkless_imap_fetched_total{{mailbox="{name}"}} 6.0' in metrics
    # The registry is per process (shared by the tests in it): at least these six.
    stored = re.search(r'^inkless_inbound_stored_total\{source="imap"\} (\S+)$', metrics, re.MULTILINE)
    assert stored is not None and float(stored.group(1)) >= 6


async def test_a_new_uidvalidity_processes_nothing_twice(make_service: Any, relay: CaptureRelay,
                                                         dovecot: Dovecot) -> None:
    dovecot.doveadm("mailbox", "create", "-u", USER, "Inkless")
    url = dovecot.url.replace("/INBOX", "/Inkless")
    first = [with_return_path(simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", f"[通知] 第{n}份", "正文"))
             for n in range(2)]
    for raw in first:
        dovecot.doveadm("save", "-u", USER, "-m", "Inkless", data=raw)
    service: Service = await make_service(relay, imap=[{"url": url, "idle": True, "poll_interval": 1}])
    await wait_for(lambda: count(service, Document), what="the first documents")
    await settled(service)
    before = dovecot.uidvalidity("Inkless")

    # The folder is recreated (a restore, a migration): same mail again, plus one new.
    dovecot.doveadm("mailbox", "delete", "-u", USER, "Inkless")
    dovecot.doveadm("mailbox", "create", "-u", USER, "Inkless")
    for raw in first + [with_return_path(simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 第2份", "正文"))]:
        dovecot.doveadm("save", "-u", USER, "-m", "Inkless", data=raw)
    assert dovecot.uidvalidity("Inkless") != before

    async def three_documents() -> bool:
        return await count(service, Document) >= 3
    await wait_for(three_documents, timeout=30, what="the new document")
    inbound = await settled(service)
    assert sorted(m.status for m in inbound) == ["discarded", "discarded", "done", "done", "done"]
    assert all("already processed" in (m.reason or "") for m in inbound if m.status == "discarded")
    assert await count(service, Document) == 3


async def test_unit_mail_whose_return_path_is_not_its_header_from_is_quarantined(
        make_service: Any, relay: CaptureRelay, dovecot: Dovecot) -> None:
    """Over IMAP the envelope sender is the Return-Path the delivering server wrote: as over
    SMTP, a header From that is not that person is refused (quarantined, there is no SMTP
    answer), and mail without one (a null sender, or copied in by hand) shows no sender."""
    service: Service = await make_service(relay, imap=imap_settings(dovecot))
    await deliver(dovecot, simple_mail("signer@test.gov", f"edu@{DOMAIN}", "[通知] 冒名的通知", "正文"),
                  sender="signed-staff@test.gov")
    await deliver(dovecot, simple_mail("signed-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 空发件人", "正文"), sender="")
    await asyncio.to_thread(append_backlog, dovecot, [simple_mail("clerk@test.gov", f"edu@{DOMAIN}",
                                                                  "[通知] 手工放入", "正文")])

    async def three_stored() -> bool:
        return await count(service, InboundMessage) >= 3
    await wait_for(three_stored, what="the three messages to be stored")
    inbound = await settled(service)
    assert [(m.status, m.reason) for m in inbound] == [
        ("quarantined", "header From does not match the envelope sender "
                        "(From signer@test.gov, envelope signed-staff@test.gov)"),
        ("quarantined", "header From does not match the envelope sender (From signed-clerk@test.gov, envelope <>)"),
        ("quarantined", "header From does not match the envelope sender (From clerk@test.gov, envelope <>)"),
    ]
    assert await count(service, Document) == 0
    assert relay.messages == []


def append_backlog(dovecot: Dovecot, messages: list[bytes]) -> None:
    with IMAPClient("127.0.0.1", port=dovecot.imap_port, ssl=False) as client:
        client.login(USER, PASSWORD)
        for raw in messages:
            client.append("INBOX", raw)


TINY_ORG = {"units": [
    {"id": "desk", "name": "收发室", "members": [{"email": "reader@test.gov", "name": "收件人"}]},
    {"id": "office", "name": "办公室", "members": [{"email": "clerk@test.gov", "name": "王文书", "roles": ["clerk"]}]},
]}


async def test_a_thousand_messages_waiting_at_start_are_all_processed_once(
        make_service: Any, relay: CaptureRelay, dovecot: Dovecot) -> None:
    backlog = [with_return_path(simple_mail("clerk@test.gov", f"desk@{DOMAIN}", f"[通知] 积压{n}", "正文"))
               for n in range(1000)]
    await asyncio.to_thread(append_backlog, dovecot, backlog)
    assert dovecot.count() == 1000
    service: Service = await make_service(relay, imap=imap_settings(dovecot), org=TINY_ORG)

    async def all_stored() -> bool:
        return await count(service, InboundMessage) >= 1000
    await wait_for(all_stored, timeout=120, what="the backlog to be stored")

    async def all_processed() -> bool:
        return await count(service, InboundMessage, InboundMessage.status == "done") >= 1000
    await wait_for(all_processed, timeout=240, what="the backlog to be processed")
    assert await count(service, InboundMessage) == 1000
    assert await count(service, Document) == 1000
    titles = {d.title for d in await documents(service)}
    assert titles == {f"积压{n}" for n in range(1000)}


async def documents(service: Service) -> list[Document]:
    assert service.sessions is not None
    async with service.sessions() as session:
        return list((await session.scalars(select(Document))).all())


def test_envelope_recovery_prefers_delivered_to_then_x_original_to_then_to_then_cc() -> None:
    from inkless.bridge.imap import recover_envelope

    raw = (b"Return-Path: <clerk@test.gov>\r\nDelivered-To: inkless@county.test\r\n"
           b"X-Original-To: finance@oa.test.gov\r\nTo: edu@oa.test.gov\r\nCc: all@oa.test.gov\r\n\r\nx\r\n")
    assert recover_envelope(raw, "oa.test.gov") == ("clerk@test.gov", ["finance@oa.test.gov"])
    raw = b"Return-Path: <>\r\nTo: Someone <other@else.test>\r\nCc: EDU@oa.test.gov, x@y\r\n\r\nx\r\n"
    assert recover_envelope(raw, "oa.test.gov") == ("", ["edu@oa.test.gov"])
    assert recover_envelope(b"To: x@y\r\n\r\n", "oa.test.gov") == ("", [])



async def test_check_logs_in_to_each_mailbox_and_names_a_bad_one(tmp_path: Any, database_url: str,
                                                                 dovecot: Dovecot) -> None:
    from tests.conftest import write_config

    wrong = dovecot.url.replace(PASSWORD, "wrong")
    path = write_config(tmp_path, database_url, None, imap=[{"url": dovecot.url}, {"url": wrong}])
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "inkless", "check", "-c", str(path),
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 2
    name = f"{USER}@127.0.0.1:{dovecot.imap_port}/INBOX"
    assert f"imap {name}: ok (UIDVALIDITY" in out.decode()
    assert f"problem: imap {name}: LoginError" in err.decode()
    assert "wrong" not in out.decode() + err.decode()


async def test_one_process_reads_a_mailbox_the_other_stands_by_and_takes_over(
        make_service: Any, relay: CaptureRelay, dovecot: Dovecot, tmp_path: Any) -> None:
    first: Service = await make_service(relay, imap=imap_settings(dovecot), directory=tmp_path / "a")
    await wait_for(lambda: first.imap[0].state == "ok", what="the first process to read the mailbox")
    second: Service = await make_service(relay, imap=imap_settings(dovecot), directory=tmp_path / "b")
    await wait_for(lambda: second.imap[0].state.startswith("standby"), what="the second to stand by")
    assert (await health(second))["status"] == "ok"  # standing by is healthy
    for n in range(10):
        await deliver(dovecot, simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", f"[通知] 单读{n}", "正文"))

    async def ten_documents() -> bool:
        return await count(first, Document) >= 10
    await wait_for(ten_documents, timeout=30, what="ten documents")
    inbound = await settled(first)
    # Read once: no copy stored twice (which the delivery keys would discard).
    assert len(inbound) == 10 and {m.status for m in inbound} == {"done"}

    await first.stop()
    await wait_for(lambda: second.imap[0].state == "ok", timeout=20, what="the second process to take over")
    await deliver(dovecot, simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 接手后", "正文"))

    async def eleven() -> bool:
        return await count(second, Document) >= 11
    await wait_for(eleven, timeout=30, what="the document read by the second process")
    assert len(await settled(second)) == 11


async def test_a_classified_document_in_the_mailbox_is_quarantined_and_its_sender_told(
        make_service: Any, relay: CaptureRelay, dovecot: Dovecot) -> None:
    """Over IMAP there is no SMTP answer: a classified document is kept in quarantine with the
    reason, never distributed, and its sender is told where such documents go."""
    service: Service = await make_service(relay, imap=imap_settings(dovecot))
    await deliver(dovecot, simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 关于人事调整的通知",
                                       "机密★10年\n各单位：\n……"))
    await wait_for(lambda: count(service, InboundMessage), what="the message to be stored")
    [message] = await settled(service)
    assert (message.status, message.reason) == ("quarantined",
                                                "classified documents may not be sent by mail (marked 机密)")
    assert await count(service, Document) == 0
    [told] = relay.messages
    assert told.rcpt == "fin-clerk@test.gov" and "涉密公文" in str(told.message["Subject"])
    assert "机要" in told.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_an_outside_organs_document_in_the_mailbox_is_registered(
        make_service: Any, relay: CaptureRelay, dovecot: Dovecot) -> None:
    org = {**TEST_ORG, "external": [{"id": "city", "name": "市人民政府", "senders": ["@city.example"]}]}
    service: Service = await make_service(relay, imap=imap_settings(dovecot), org=org)
    await deliver(dovecot, simple_mail("wenshu@city.example", f"finance@{DOMAIN}", "市政发〔2026〕8号 关于X的通知"))
    await deliver(dovecot, simple_mail("wenshu@city.example", f"finance@{DOMAIN}", "市政发〔2026〕9号 冒名"),
                  sender="mallory@elsewhere.example")

    async def both() -> bool:
        return await count(service, InboundMessage) >= 2
    await wait_for(both, what="both messages")
    first, second = await settled(service)
    assert first.status == "done" and second.status == "quarantined"
    [document] = await documents(service)
    assert (document.direction, document.source_number, document.incoming_number) == (
        "incoming", "市政发〔2026〕8号", "延财发收〔2026〕1号")
    assert {m.rcpt for m in relay.messages} == {"fin-clerk@test.gov"}  # finance's clerk: it has no receivers
