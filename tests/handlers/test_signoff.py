"""Sign-off by reply: real SMTP round trips from the request at the relay back into Inkless."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import zipfile
from datetime import datetime, timezone
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import SMTP as SMTP_POLICY
from email.utils import make_msgid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from inkless.storage.models import AuditEntry, Document, Evidence, InboundMessage
from tests.conftest import (
    DOMAIN,
    CaptureRelay,
    api,
    next_mail,
    settled,
    simple_mail,
    smtp_send,
    wait_for,
)
from tests.handlers.replies import STYLES, reply

CLERK, SIGNER, CHIEF = "signed-clerk@test.gov", "signer@test.gov", "chief@test.gov"
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def submit(service: Service, subject: str = "[请示] 关于追加预算的请示", body: str = "请批准追加预算十万元。") -> None:
    raw = simple_mail(CLERK, f"edu@{DOMAIN}", subject, body)
    assert (await smtp_send(service.smtp_port, CLERK, [f"edu@{DOMAIN}"], raw)).startswith("250")


async def send_reply(service: Service, original: Message, author: str, text: str, **options: Any) -> None:
    raw = reply(original, author, text, **options)
    rcpt = options.get("to") or str(original["Reply-To"])
    assert (await smtp_send(service.smtp_port, author, [rcpt], raw)).startswith("250")


async def the_document(service: Service) -> dict[str, Any]:
    page = await api(service, "/api/v1/documents")
    [item] = page["items"]
    return item  # type: ignore[no-any-return]


async def test_two_step_chain_approves_with_comment_and_issues(service: Service, relay: CaptureRelay) -> None:
    await submit(service)
    request = await next_mail(relay, SIGNER)
    assert request["Subject"] == "[待签发] 关于追加预算的请示（第1版）"
    assert "请批准追加预算十万元。" in request.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert relay.to(CHIEF) == []  # the chain is sequential

    await send_reply(service, request, SIGNER, "同意，请修改第三段", style="outlook_zh")
    second = await next_mail(relay, CHIEF)
    await send_reply(service, second, CHIEF, "原则同意。", style="foxmail")
    await wait_for(lambda: len(relay.to("edu-staff@test.gov")) == 1, what="the issued copy")

    document = await the_document(service)
    year = datetime.now(SHANGHAI).year
    assert (document["status"], document["number"]) == ("issued", f"审批发〔{year}〕1号")
    assert [(a["version"], a["approver"], a["decision"], a["comment"], a["channel"]) for a in document["approvals"]] == [
        (1, SIGNER, "approve", "请修改第三段", "mail"),
        (1, CHIEF, "approve", None, "mail"),
    ]
    assert all(a["decided_at"] for a in document["approvals"])
    # Copies went out only after the final approval; the clerk got the "issued" notice.
    assert f"审批发〔{year}〕1号" in str((await next_mail(relay, CLERK))["Subject"])


async def test_rejection_then_revised_version_is_approved(service: Service, relay: CaptureRelay) -> None:
    await submit(service)
    request = await next_mail(relay, SIGNER)
    await send_reply(service, request, SIGNER, "不同意，预算过高，请压缩到五万元。", style="gmail_zh")
    returned = await next_mail(relay, CLERK)
    assert str(returned["Subject"]).startswith("[退回] ")
    assert "预算过高，请压缩到五万元。" in returned.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    document = await the_document(service)
    assert document["status"] == "rejected" and document["number"] is None

    await send_reply(service, returned, CLERK, "请批准追加预算五万元。", style="outlook_zh")
    request2 = await next_mail(relay, SIGNER, 2)
    assert request2["Subject"] == "[待签发] 关于追加预算的请示（第2版）"
    assert "五万元" in request2.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    await send_reply(service, request2, SIGNER, "同意", style="netease163")
    await send_reply(service, await next_mail(relay, CHIEF), CHIEF, "Approved", style="gmail_en")
    await wait_for(lambda: len(relay.to("edu-staff@test.gov")) == 1, what="the issued copy")

    document = await the_document(service)
    assert document["status"] == "issued"
    assert [(v["version"], v["body"].strip()) for v in document["versions"]] == [
        (1, "请批准追加预算十万元。"), (2, "请批准追加预算五万元。")]
    assert [(a["version"], a["approver"], a["decision"]) for a in document["approvals"]] == [
        (1, SIGNER, "reject"), (1, CHIEF, None), (2, SIGNER, "approve"), (2, CHIEF, "approve")]
    copy = relay.to("edu-staff@test.gov")[0].message
    assert "五万元" in copy.get_body(("plain",)).get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(("text", "decision"), [("不同意，超出预算", "reject"), ("同意，请修改第三段", "approve"),
                                                ("我再看看", None)])
async def test_every_client_quote_style_is_read_correctly(service: Service, relay: CaptureRelay, style: str,
                                                          text: str, decision: str | None) -> None:
    # The quoted request always contains "同意" (its instructions say to write it).
    await submit(service)
    request = await next_mail(relay, SIGNER)
    assert "同意" in request.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    await send_reply(service, request, SIGNER, text, style=style)
    await settled(service)
    [first, _] = (await the_document(service))["approvals"]
    assert first["decision"] == decision
    if decision is None:
        # Unclear: nothing changes and the approver is asked again, quoting the accepted words.
        answer = await next_mail(relay, SIGNER, 2)
        assert answer["Auto-Submitted"] == "auto-replied"
        assert "我再看看" in answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    else:
        assert first["comment"] == text.split("，", 1)[1]


async def test_html_only_reply(service: Service, relay: CaptureRelay) -> None:
    await submit(service)
    request = await next_mail(relay, SIGNER)
    await send_reply(service, request, SIGNER, "不予批准\n理由见附件", html_only=True)
    await settled(service)
    first = (await the_document(service))["approvals"][0]
    assert (first["decision"], first["comment"]) == ("reject", "理由见附件")


AUTOMATIC = {
    "auto-submitted": {"Auto-Submitted": "auto-replied"},
    "x-autoreply": {"X-Autoreply": "yes"},
    "x-autorespond": {"X-Autorespond": "vacation"},
    "precedence-bulk": {"Precedence": "bulk"},
    "precedence-auto-reply": {"Precedence": "auto_reply"},
    "exchange-suppress": {"X-Auto-Response-Suppress": "All"},
}


@pytest.mark.parametrize("kind", sorted(AUTOMATIC) + ["subject-zh", "subject-en", "null-sender"])
async def test_automatic_replies_never_decide_and_are_not_answered(service: Service, relay: CaptureRelay,
                                                                  kind: str) -> None:
    await submit(service)
    request = await next_mail(relay, SIGNER)
    raw = reply(request, SIGNER, "同意 (I am out of the office until Monday)", headers=AUTOMATIC.get(kind, {}))
    if kind == "subject-zh":
        raw = raw.replace(b"Subject: ", b"Subject: =?utf-8?b?6Ieq5Yqo5Zue5aSN77ya?= ", 1)
    if kind == "subject-en":
        raw = raw.replace(b"Subject: ", b"Subject: Automatic reply: ", 1)
    envelope = "" if kind == "null-sender" else SIGNER
    assert (await smtp_send(service.smtp_port, envelope, [str(request["Reply-To"])], raw)).startswith("250")
    [_, answer] = await settled(service)
    assert answer.status == "discarded" and answer.reason is not None and "automatic" in answer.reason
    assert (await the_document(service))["approvals"][0]["decision"] is None
    assert len(relay.to(SIGNER)) == 1 and relay.to(CHIEF) == []


async def test_wrong_person_altered_token_and_replay_change_nothing(service: Service, relay: CaptureRelay) -> None:
    await submit(service)
    request = await next_mail(relay, SIGNER)
    # Someone else answers the signer's request.
    await send_reply(service, request, CHIEF, "同意")
    # A forged token hidden in References behind the bare reply@ address.
    forged = reply(request, SIGNER, "同意", to=f"reply@{DOMAIN}").replace(
        str(request["Message-ID"]).encode()[-25:-12], b"aaaaaaaaaaaaa")
    assert (await smtp_send(service.smtp_port, SIGNER, [f"reply@{DOMAIN}"], forged)).startswith("250")
    rows = await settled(service)
    assert [r.status for r in rows[1:]] == ["discarded", "quarantined"]
    assert "issued to signer@test.gov" in (rows[1].reason or "")
    assert (await the_document(service))["approvals"][0]["decision"] is None

    await send_reply(service, request, SIGNER, "不同意，重新测算")
    await settled(service)
    # Replaying the same decision (or changing one's mind) changes nothing and is answered politely.
    await send_reply(service, request, SIGNER, "同意")
    await settled(service)
    document = await the_document(service)
    assert (document["status"], document["approvals"][0]["decision"]) == ("rejected", "reject")
    answer = relay.to(SIGNER)[-1].message
    assert str(answer["Subject"]).startswith("已处理") and "审批领导" in answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert service.sessions is not None
    async with service.sessions() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert "inbound.discarded" in actions and "inbound.quarantined" in actions
    assert "signoff.reply_after_decision" in actions


async def discarded_reasons(service: Service) -> list[str]:
    """The reasons of the discarded inbound messages, each also in the audit log."""
    rows = await settled(service)
    assert service.sessions is not None
    async with service.sessions() as session:
        audited = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "inbound.discarded")
                                         .order_by(AuditEntry.id))).all()
    reasons = [row.reason or "" for row in rows if row.status == "discarded"]
    assert [entry.detail["reason"] for entry in audited] == reasons
    return reasons


@pytest.mark.parametrize("thread_headers", [("References", "In-Reply-To"), ("References",), ("In-Reply-To",)])
async def test_a_token_only_in_thread_headers_decides_nothing(service: Service, relay: CaptureRelay,
                                                               thread_headers: tuple[str, ...]) -> None:
    """Clients that drop the +tag reach the bare reply@ address with the token only in
    References/In-Reply-To, as every forwarded copy carries it: such a reply decides nothing."""
    await submit(service)
    request = await next_mail(relay, SIGNER)
    raw = reply(request, SIGNER, "同意", to=f"reply@{DOMAIN}", style="outlook_en")
    for name in ("References", "In-Reply-To"):
        if name not in thread_headers:
            raw = raw.replace(f"{name}: {request['Message-ID']}\r\n".encode(), b"", 1)
    assert (await smtp_send(service.smtp_port, SIGNER, [f"reply@{DOMAIN}"], raw)).startswith("250")
    [reason] = await discarded_reasons(service)
    assert "only in References/In-Reply-To" in reason
    document = await the_document(service)
    assert (document["status"], document["approvals"][0]["decision"]) == ("pending_approval", None)
    assert relay.to(CHIEF) == [] and len(relay.to(SIGNER)) == 1  # no answer either


FORWARDEE = "signed-staff@test.gov"


@pytest.mark.parametrize(("envelope", "header_from", "to_reply_address"), [
    (FORWARDEE, SIGNER, True),  # their own envelope, the approver's header From
    (FORWARDEE, FORWARDEE, True),  # their own, both
    ("secretary@outside.example", SIGNER, True),  # an outside envelope, the approver's header From
    (SIGNER, SIGNER, False),  # the approver's envelope and From forged, the token only in References
])
async def test_a_forwarded_request_is_decided_by_no_one_but_the_approver(
        service: Service, relay: CaptureRelay, envelope: str, header_from: str, to_reply_address: bool) -> None:
    """The approver forwards the request; whoever it reaches holds its Reply-To and, in the
    Message-ID, its token. Their "同意" is audited and decides nothing."""
    await submit(service)
    request = await next_mail(relay, SIGNER)
    rcpt = str(request["Reply-To"]) if to_reply_address else f"reply@{DOMAIN}"
    raw = reply(request, header_from, "同意", to=rcpt)
    assert (await smtp_send(service.smtp_port, envelope, [rcpt], raw)).startswith("250")
    [reason] = await discarded_reasons(service)
    assert reason.startswith("reply to approval ")
    document = await the_document(service)
    assert (document["status"], document["approvals"][0]["decision"]) == ("pending_approval", None)
    assert relay.to(CHIEF) == [] and relay.to(FORWARDEE) == [] and len(relay.to(SIGNER)) == 1
    # The approver's own reply still decides.
    await send_reply(service, request, SIGNER, "同意")
    await next_mail(relay, CHIEF)
    assert (await the_document(service))["approvals"][0]["decision"] == "approve"


def bottom_posted(original: Message, author: str, new_text: str) -> bytes:
    """A reply written under the quote, as Thunderbird does by default."""
    quoted_lines = "\n".join("> " + line for line in original.get_body(("plain",)).get_content().splitlines())  # type: ignore[union-attr]
    message = EmailMessage()
    message["From"] = author
    message["To"] = str(original["Reply-To"])
    message["Subject"] = "Re: " + str(original["Subject"])
    message["Message-ID"] = make_msgid(domain="client.test")
    message["In-Reply-To"] = message["References"] = str(original["Message-ID"])
    message.set_content(f"On 11/27/26 09:30, {original['From']} wrote:\n{quoted_lines}\n\n{new_text}\n")
    return message.as_bytes(policy=SMTP_POLICY)


@pytest.mark.parametrize("posting", ["top", "bottom"])
async def test_the_approvers_own_reply_decides_top_or_bottom_posted(service: Service, relay: CaptureRelay,
                                                                    posting: str) -> None:
    await submit(service)
    request = await next_mail(relay, SIGNER)
    raw = reply(request, SIGNER, "同意") if posting == "top" else bottom_posted(request, SIGNER, "同意")
    # Envelope and header From may differ in ASCII case only.
    assert (await smtp_send(service.smtp_port, SIGNER.upper(), [str(request["Reply-To"])], raw)).startswith("250")
    await next_mail(relay, CHIEF)
    assert (await the_document(service))["approvals"][0]["decision"] == "approve"


@pytest.mark.parametrize(("envelope", "header_from", "reason"), [
    (FORWARDEE, CLERK, f"header From does not match the envelope sender (From {CLERK}, envelope {FORWARDEE})"),
    # A Kelvin sign for the k of signed-clerk: another address, whatever str.lower() says.
    (CLERK, "signed-cler\u212a@test.gov", f"but the token was issued to {CLERK}"),
])
async def test_a_revision_counts_only_from_the_sender_s_own_envelope_and_from(
        service: Service, relay: CaptureRelay, envelope: str, header_from: str, reason: str) -> None:
    await submit(service)
    await send_reply(service, await next_mail(relay, SIGNER), SIGNER, "不同意，预算过高")
    returned = await next_mail(relay, CLERK)
    raw = reply(returned, CLERK, "请批准追加预算一百万元。").replace(
        f"From: {CLERK}".encode(), f"From: {header_from}".encode(), 1)
    assert (await smtp_send(service.smtp_port, envelope, [str(returned["Reply-To"])], raw)).startswith("250")
    [discarded] = await discarded_reasons(service)
    assert discarded.endswith(reason)
    document = await the_document(service)
    assert (document["status"], len(document["versions"])) == ("rejected", 1)


async def test_a_version_token_never_decides_a_later_version(service: Service, relay: CaptureRelay) -> None:
    await submit(service)
    request1 = await next_mail(relay, SIGNER)
    await send_reply(service, request1, SIGNER, "退回")
    await send_reply(service, await next_mail(relay, CLERK), CLERK, "修改稿")
    await next_mail(relay, SIGNER, 2)
    await send_reply(service, request1, SIGNER, "同意")  # an approval of version 1
    await settled(service)
    approvals = (await the_document(service))["approvals"]
    assert [(a["version"], a["decision"]) for a in approvals if a["approver"] == SIGNER] == [(1, "reject"), (2, None)]


async def test_decisions_keep_their_evidence(service: Service, relay: CaptureRelay) -> None:
    await submit(service)
    request = await next_mail(relay, SIGNER)
    await send_reply(service, request, SIGNER, "同意，尽快落实", style="apple_zh")
    await next_mail(relay, CHIEF)
    assert service.sessions is not None
    async with service.sessions() as session:
        [evidence] = (await session.scalars(select(Evidence))).all()
        inbound = await session.get(InboundMessage, evidence.inbound_id)
    assert inbound is not None and evidence.raw == inbound.raw
    assert (evidence.stripped_text, evidence.verdict) == ("同意，尽快落实", "approve")
    assert evidence.token.startswith("reply+a") and len(evidence.sha256) == 64


async def test_a_big_reply_keeps_all_its_bytes_as_evidence(make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    """A message over 256 KB is let go of once parsed (its bytes stay in the database); the
    evidence of a decision it makes is still the whole message, byte for byte."""
    service = await make_service(relay, smtp={"max_message_size": 2_000_000})
    await submit(service)
    request = await next_mail(relay, SIGNER)
    message = message_from_bytes(reply(request, SIGNER, "同意"), policy=SMTP_POLICY)
    assert isinstance(message, EmailMessage)
    message.add_attachment(hashlib.sha512(b"scan").digest() * 6_000, maintype="application", subtype="pdf",
                           filename="批示扫描件.pdf")
    raw = message.as_bytes(policy=SMTP_POLICY)
    assert len(raw) > 256 * 1024
    assert (await smtp_send(service.smtp_port, SIGNER, [str(request["Reply-To"])], raw)).startswith("250")
    await next_mail(relay, CHIEF)
    assert service.sessions is not None
    async with service.sessions() as session:
        [evidence] = (await session.scalars(select(Evidence))).all()
    assert (evidence.raw, evidence.verdict) == (raw, "approve")
    assert evidence.sha256 == hashlib.sha256(b"\0".join(
        [raw, (evidence.authentication_results or "").encode(), evidence.token.encode(), b"\xe5\x90\x8c\xe6\x84\x8f",
         b"approve"])).hexdigest()


async def test_automatic_answers_are_capped_per_hour(make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    service = await make_service(relay, workflow={"auto_answer_limit": 2})
    await submit(service)
    request = await next_mail(relay, SIGNER)
    for _ in range(4):
        await send_reply(service, request, SIGNER, "嗯")
    await settled(service)
    assert len(relay.to(SIGNER)) == 1 + 2
    # Past the cap a clear decision still decides.
    await send_reply(service, request, SIGNER, "同意")
    await next_mail(relay, CHIEF)


async def test_reminder_then_escalation_in_working_days(make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    # Asked on the eve of the National Day holiday: 1 working day later is 8 October.
    clock = FixedClock(datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI).astimezone(timezone.utc))
    service = await make_service(relay, clock=clock)
    await submit(service)
    await next_mail(relay, SIGNER)
    assert service.scheduler is not None

    async def round_at(local: datetime) -> int:
        clock.at = local.astimezone(timezone.utc)
        return await service.scheduler.run_once()  # type: ignore[union-attr]

    assert await round_at(datetime(2026, 10, 7, 23, 59, tzinfo=SHANGHAI)) == 0
    assert await round_at(datetime(2026, 10, 8, 9, 59, tzinfo=SHANGHAI)) == 0
    assert await round_at(datetime(2026, 10, 8, 10, 0, tzinfo=SHANGHAI)) == 1
    reminder = await next_mail(relay, SIGNER, 2)
    assert str(reminder["Subject"]).startswith("[催办]")
    assert await round_at(datetime(2026, 10, 8, 12, 0, tzinfo=SHANGHAI)) == 0  # reminded once
    assert relay.to(CHIEF) == []
    # 10 October 2026 is a Saturday but an adjusted working day; 9 October counts first.
    assert await round_at(datetime(2026, 10, 9, 10, 0, tzinfo=SHANGHAI)) == 1
    escalation = await next_mail(relay, CHIEF)
    assert str(escalation["Subject"]).startswith("[督促]") and "审批领导" in str(escalation["Subject"])
    assert await round_at(datetime(2026, 10, 12, 10, 0, tzinfo=SHANGHAI)) == 0
    # A reply to the reminder still decides.
    await send_reply(service, reminder, SIGNER, "同意")
    await next_mail(relay, CHIEF, 2)
    assert (await the_document(service))["approvals"][0]["decision"] == "approve"


async def test_numbers_stay_gapless_under_concurrent_final_approvals(make_service, relay: CaptureRelay,
                                                                     database_url: str, tmp_path: Any) -> None:  # type: ignore[no-untyped-def]
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrency across processes is a PostgreSQL matter; SQLite serialises writers")
    org = {"units": [{"id": "quick", "name": "快速审批", "doc_prefix": "快", "approvers": [SIGNER], "members": [
        {"email": CLERK, "roles": ["clerk"]}, {"email": SIGNER, "roles": ["leader"]}]},
        {"id": "edu", "name": "教育局", "members": [{"email": "edu-staff@test.gov"}]}]}
    first = await make_service(relay, org=org, directory=tmp_path / "a")
    second = await make_service(relay, org=org, directory=tmp_path / "b")
    for index in range(50):
        await submit(first, subject=f"[请示] 第{index}件")
    await wait_for(lambda: len(relay.to(SIGNER)) == 50, timeout=60, what="50 requests")
    requests = [m.message for m in relay.to(SIGNER)]

    async def approve(index: int, request: Message) -> None:
        target = first if index % 2 else second
        raw = reply(request, SIGNER, "同意")
        assert (await smtp_send(target.smtp_port, SIGNER, [str(request["Reply-To"])], raw)).startswith("250")

    await asyncio.gather(*(approve(i, r) for i, r in enumerate(requests)))
    await wait_for(lambda: len(relay.to("edu-staff@test.gov")) == 50, timeout=60, what="50 issued copies")
    assert first.sessions is not None
    async with first.sessions() as session:
        numbers = sorted((await session.scalars(select(Document.serial))).all())
        workers = set((await session.scalars(select(InboundMessage.claimed_by))).all())
    assert numbers == list(range(1, 51))
    assert len(workers) == 2


async def test_evidence_archive_holds_every_decision(service: Service, relay: CaptureRelay, tmp_path: Any) -> None:
    await submit(service)
    request = await next_mail(relay, SIGNER)
    await send_reply(service, request, SIGNER, "同意，尽快落实")
    await send_reply(service, await next_mail(relay, CHIEF), CHIEF, "同意")
    await wait_for(lambda: len(relay.to("edu-staff@test.gov")) == 1, what="the issued copy")
    document_id = (await the_document(service))["id"]
    archive_path = tmp_path / "evidence.zip"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inkless", "doc", "evidence", str(document_id), "-o", str(archive_path),
        "-c", str(tmp_path / "config.yaml"), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert out.decode().startswith("2 decision(s) with evidence written to")
    with zipfile.ZipFile(archive_path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        decisions = [json.loads(archive.read(n)) for n in names if n.endswith("evidence.json")]
        for name, digest in manifest.items():
            assert hashlib.sha256(archive.read(name)).hexdigest() == digest
        audit = json.loads(archive.read("audit.json"))
    assert [(d["approver"], d["verdict"], d["stripped_text"]) for d in decisions] == [
        (SIGNER, "approve", "同意，尽快落实"), (CHIEF, "approve", "同意")]
    assert sum(1 for n in names if n.endswith("reply.eml")) == 2
    assert {"signoff.approve", "document.issued"} <= {entry["action"] for entry in audit}
