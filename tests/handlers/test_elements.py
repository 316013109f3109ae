"""What makes a 公文 a 公文 (SPEC §2.9), over real SMTP on both backends: urgency and its
reminders in working hours, classified documents refused before they are stored, 签发人 /
成文日期 / 份号, joint issuing (联合发文), and delegates who decide for a leader."""

from __future__ import annotations

from datetime import date, datetime, timezone
from email.message import Message
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from inkless.storage.models import Approval, AuditEntry, Document, InboundMessage
from tests.conftest import DOMAIN, CaptureRelay, Refused, api, settled, simple_mail, smtp_send
from tests.handlers.test_hierarchy import all_documents, answer, body_of, copy_to, send

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of December 2026 in Shanghai, as UTC."""
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI).astimezone(timezone.utc)


# Friday 4 December 2026, 10:00 in Shanghai.
FRIDAY = at(4, 10)

ORG: dict[str, Any] = {
    "units": [
        {"id": "office", "name": "县政府办公室", "doc_prefix": "延政办发", "approvers": ["leader@test.gov"], "members": [
            {"email": "clerk@test.gov", "name": "王文书", "roles": ["clerk"]},
            {"email": "leader@test.gov", "name": "李县长", "roles": ["leader"], "delegates": ["secretary@test.gov"]},
            {"email": "secretary@test.gov", "name": "张秘书"},
            {"email": "staff@test.gov", "name": "赵科员"},
        ]},
        {"id": "finance", "name": "财政局", "parent": "office", "doc_prefix": "延财发",
         "approvers": ["fin-head@test.gov"], "members": [
            {"email": "fin-clerk@test.gov", "name": "陈会计", "roles": ["clerk"]},
            {"email": "fin-head@test.gov", "name": "周局长", "roles": ["leader"]},
            {"email": "fin-staff@test.gov", "name": "吴科员"},
        ]},
        {"id": "edu", "name": "教育局", "parent": "office", "doc_prefix": "延教发",
         "approvers": ["edu-deputy@test.gov", "edu-head@test.gov"], "members": [
            {"email": "edu-clerk@test.gov", "name": "郑干事", "roles": ["clerk"]},
            {"email": "edu-deputy@test.gov", "name": "孙副局长", "roles": ["leader"]},
            {"email": "edu-head@test.gov", "name": "钱局长", "roles": ["leader"]},
            {"email": "edu-staff@test.gov", "name": "刘老师"},
        ]},
        # No approvers: it issues at once, and as a co-issuer its leader signs off.
        {"id": "town", "name": "城关镇", "parent": "office", "doc_prefix": "城政发", "members": [
            {"email": "town-clerk@test.gov", "name": "冯文书", "roles": ["clerk"]},
            {"email": "town-head@test.gov", "name": "蒋镇长", "roles": ["leader"]},
            {"email": "town-staff@test.gov", "name": "卫干事"},
        ]},
        # No one who could agree to issue a document jointly.
        {"id": "archive", "name": "档案馆", "parent": "office", "members": [
            {"email": "archive-staff@test.gov", "name": "档案员"},
        ]},
    ],
}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(FRIDAY)


@pytest.fixture
async def county(make_service: Any, relay: CaptureRelay, clock: FixedClock) -> Service:
    service: Service = await make_service(relay, clock=clock, org=ORG)
    return service


def requests_to(relay: CaptureRelay, email: str) -> list[Message]:
    return [m.message for m in relay.to(email) if "待签发" in str(m.message["Subject"])]


async def first_approval(service: Service, document_id: int) -> int:
    """The id of a document's first approval row (what the desk's buttons post to)."""
    assert service.sessions is not None
    async with service.sessions() as session:
        found = await session.scalar(select(Approval.id).where(Approval.document_id == document_id)
                                     .order_by(Approval.id).limit(1))
    assert found is not None
    return int(found)


async def audit(service: Service, action: str) -> list[AuditEntry]:
    assert service.sessions is not None
    async with service.sessions() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                           .order_by(AuditEntry.id))).all())


# Urgency -------------------------------------------------------------------------------


async def test_an_urgent_notice_is_marked_and_its_silent_recipients_reminded_after_working_hours(
        county: Service, relay: CaptureRelay, clock: FixedClock) -> None:
    assert (await send(county, "town-clerk@test.gov", "[特急][通知] 关于立即开展燃气安全排查的通知",
                       "各单位：\n请立即排查。\n", to=["finance"])).startswith("250")
    assert (await send(county, "town-clerk@test.gov", "[通知] 关于做好年终总结的通知", to=["finance"])).startswith("250")
    await settled(county)
    urgent, ordinary = await all_documents(county)
    assert (urgent.urgency, urgent.title, ordinary.urgency) == ("特急", "关于立即开展燃气安全排查的通知", None)
    copy = copy_to(relay, "fin-staff@test.gov", urgent.id)
    assert str(copy["Subject"]).startswith("【特急】[通知] 关于立即开展燃气安全排查的通知")
    assert (copy["Importance"], copy["X-Priority"]) == ("high", "1")
    assert "紧急程度: 特急" in body_of(copy)
    plain = copy_to(relay, "fin-staff@test.gov", ordinary.id)
    assert plain["Importance"] is None and not str(plain["Subject"]).startswith("【")
    assert (await api(county, f"/api/v1/documents/{urgent.id}"))["urgency"] == "特急"
    await answer(county, copy_to(relay, "fin-clerk@test.gov", urgent.id), "fin-clerk@test.gov", "收到")
    await settled(county)
    assert county.scheduler is not None

    async def reminders() -> dict[str, int]:
        await settled(county)
        found: dict[str, int] = {}
        for captured in relay.messages:
            if str(captured.message["Subject"]).startswith(("[催签收]", "【特急】[催签收]")):
                found[captured.rcpt] = found.get(captured.rcpt, 0) + 1
        return found

    # Issued Friday 10:00: two hours before lunch, two after it — due at 16:00, not 14:00.
    clock.at = at(4, 15, 59)
    await county.scheduler.run_once()
    assert await reminders() == {}
    clock.at = at(4, 16, 0)
    await county.scheduler.run_once()
    assert await reminders() == {"fin-staff@test.gov": 1, "fin-head@test.gov": 1}  # not who acknowledged
    reminder = [m.message for m in relay.to("fin-staff@test.gov") if "催签收" in str(m.message["Subject"])][0]
    assert str(reminder["Subject"]).startswith("【特急】") and reminder["X-Priority"] == "1"
    # The ordinary notice waits its two working days (Tuesday), the urgent one is not reminded twice.
    clock.at = at(7, 16, 0)
    await county.scheduler.run_once()
    assert await reminders() == {"fin-staff@test.gov": 1, "fin-head@test.gov": 1}


async def test_an_urgent_request_is_reminded_across_a_weekend(county: Service, relay: CaptureRelay,
                                                             clock: FixedClock) -> None:
    clock.at = at(4, 16, 0)  # Friday 16:00: an hour and a half left this week
    assert (await send(county, "clerk@test.gov", "[加急][请示] 关于追加除雪经费的请示", to=["office"])).startswith("250")
    await settled(county)
    [request] = requests_to(relay, "leader@test.gov")
    assert str(request["Subject"]).startswith("【加急】") and request["Importance"] == "high"
    assert county.scheduler is not None
    for moment in (at(5, 10), at(6, 16), at(7, 10, 59)):  # Saturday, Sunday, Monday before 11:00
        clock.at = moment
        await county.scheduler.run_once()
        await settled(county)
        assert len(requests_to(relay, "leader@test.gov")) == 1, moment
    clock.at = at(7, 11, 0)
    await county.scheduler.run_once()
    await settled(county)
    assert len(requests_to(relay, "leader@test.gov")) == 2
    assert "催办" in str(requests_to(relay, "leader@test.gov")[-1]["Subject"])


async def test_urgent_documents_come_first_on_the_desk_and_in_pending(county: Service, relay: CaptureRelay) -> None:
    for subject in ("[请示] 关于普通事项的请示", "[加急][请示] 关于加急事项的请示", "[特急][请示] 关于特急事项的请示"):
        assert (await send(county, "clerk@test.gov", subject, to=["office"])).startswith("250")
    await settled(county)
    from inkless.web import desk
    leader = county.office().directory.person("leader@test.gov")
    assert county.sessions is not None and leader is not None
    async with county.sessions() as session:
        shown = [p.document.title for p in await desk.pending_approvals(session, county.office(), leader)]
    assert shown == ["关于特急事项的请示", "关于加急事项的请示", "关于普通事项的请示"]


# Classified documents ------------------------------------------------------------------


@pytest.mark.parametrize(("subject", "body"), [
    ("[机密] 关于边境管控的通知", "正文"),
    ("【绝密】关于X的通知", "正文"),
    ("[通知] 关于人事调整的通知", "秘密★1年\n各单位：\n……"),
    ("[通知] 关于人事调整的通知", "\n\n  机密 ★ 10年\n各单位："),
])
async def test_a_classified_document_is_refused_and_leaves_no_row(county: Service, subject: str, body: str) -> None:
    with pytest.raises(Refused) as caught:
        await send(county, "clerk@test.gov", subject, body, to=["finance"])
    assert (caught.value.stage, caught.value.code) == ("DATA", 550)
    assert "5.7.1 classified documents may not be sent by mail" in caught.value.message
    assert county.sessions is not None
    async with county.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(InboundMessage)) == 0
        assert await session.scalar(select(func.count()).select_from(Document)) == 0


async def test_a_classified_mark_in_a_gbk_base64_body_is_found_too(county: Service) -> None:
    from email.message import EmailMessage
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "clerk@test.gov", f"finance@{DOMAIN}", "关于X的通知"
    message.set_content("机密★5年\n各单位：\n正文\n", charset="gbk", cte="base64")
    with pytest.raises(Refused) as caught:
        await smtp_send(county.smtp_port, "clerk@test.gov", [f"finance@{DOMAIN}"], message.as_bytes())
    assert caught.value.code == 550
    # Words that only look alike are no marking.
    assert (await send(county, "clerk@test.gov", "[通知] 关于保守工作秘密的通知", "秘密文件管理办法如下：\n……",
                       to=["finance"])).startswith("250")


# 签发人, 成文日期, 份号 --------------------------------------------------------------------------


async def test_signer_issue_date_and_copy_numbers_are_recorded_and_printed(county: Service,
                                                                          relay: CaptureRelay) -> None:
    assert (await send(county, "clerk@test.gov", "[报告] 关于冬季供暖情况的报告", to=["finance"])).startswith("250")
    assert (await send(county, "town-clerk@test.gov", "[通知] 关于开会的通知", to=["edu"])).startswith("250")
    await settled(county)
    await answer(county, requests_to(relay, "leader@test.gov")[0], "leader@test.gov", "同意")
    await settled(county)
    report, notice = await all_documents(county)
    for document, signer in ((report, "leader@test.gov"), (notice, "town-clerk@test.gov")):
        shown = await api(county, f"/api/v1/documents/{document.id}")
        assert (shown["signer"], shown["issue_date"]) == (signer, "2026-12-04")
        numbers = sorted(r["copy_number"] for r in shown["recipients"])
        assert numbers == list(range(1, len(shown["recipients"]) + 1))
        for row in shown["recipients"]:
            text = body_of(copy_to(relay, row["email"], document.id))
            assert f"份号: {row['copy_number']:06d}" in text and "成文日期: 2026年12月4日" in text
    assert "签发人: 李县长" in body_of(copy_to(relay, "fin-staff@test.gov", report.id))
    assert date(2026, 12, 4) == report.issue_date


# 联合发文 ---------------------------------------------------------------------------------------


async def test_a_joint_document_needs_every_issuers_approvers_and_lists_them_all(
        county: Service, relay: CaptureRelay) -> None:
    assert (await send(county, "fin-clerk@test.gov", "[通知] 关于联合开展校园食品安全检查的通知",
                       "联合发文: edu, 城关镇\n各学校：\n请配合检查。\n", to=["town"])).startswith("250")
    await settled(county)
    [document] = await all_documents(county)
    assert (document.co_issuers.split("\n"), document.status) == (["edu", "town"], "pending_approval")
    # The units sign off in parallel: finance's head, edu's first approver and the town's leader
    # (the town has no approvers) are asked at once.
    fin_request, edu_first = requests_to(relay, "fin-head@test.gov")[0], requests_to(relay, "edu-deputy@test.gov")[0]
    assert "联合发文" in body_of(edu_first) and requests_to(relay, "edu-head@test.gov") == []
    await answer(county, fin_request, "fin-head@test.gov", "同意")
    await answer(county, requests_to(relay, "town-head@test.gov")[0], "town-head@test.gov", "同意")
    await settled(county)
    assert (await all_documents(county))[0].status == "pending_approval"
    await answer(county, edu_first, "edu-deputy@test.gov", "同意")
    await settled(county)
    assert (await all_documents(county))[0].status == "pending_approval"
    await answer(county, requests_to(relay, "edu-head@test.gov")[0], "edu-head@test.gov", "同意，请抓好落实")
    await settled(county)
    shown = await api(county, f"/api/v1/documents/{document.id}")
    assert (shown["status"], shown["number"], shown["co_issuers"], shown["signer"]) == (
        "issued", "延财发〔2026〕1号", ["edu", "town"], "fin-head@test.gov")
    assert [(a["approver"], a["unit"], a["decision"]) for a in shown["approvals"]] == [
        ("fin-head@test.gov", "finance", "approve"), ("edu-deputy@test.gov", "edu", "approve"),
        ("edu-head@test.gov", "edu", "approve"), ("town-head@test.gov", "town", "approve")]
    assert "财政局、教育局、城关镇发文" in body_of(copy_to(relay, "town-staff@test.gov", document.id))
    assert "财政局、教育局、城关镇" in (await county_page(county, relay, document.id))


async def county_page(service: Service, relay: CaptureRelay, document_id: int) -> str:
    from tests.web.test_pages import base, browser, confirm, sign_in
    async with browser() as http:
        await confirm(service, http, await sign_in(service, relay, http, "fin-clerk@test.gov"))
        return await (await http.get(f"{base(service)}/documents/{document_id}")).text()


async def test_one_issuers_rejection_returns_a_joint_document(county: Service, relay: CaptureRelay,
                                                               clock: FixedClock) -> None:
    assert (await send(county, "fin-clerk@test.gov", "[通知] 关于联合发文的通知", "联合发文：教育局\n正文\n",
                       to=["town"])).startswith("250")
    await settled(county)
    [document] = await all_documents(county)
    await answer(county, requests_to(relay, "edu-deputy@test.gov")[0], "edu-deputy@test.gov", "不同意，经费来源不明")
    await settled(county)
    assert (await all_documents(county))[0].status == "rejected"
    returned = [m.message for m in relay.to("fin-clerk@test.gov") if "退回" in str(m.message["Subject"])]
    assert returned and "经费来源不明" in body_of(returned[0])
    # Finance's head, asked in parallel, can no longer approve it.
    await answer(county, requests_to(relay, "fin-head@test.gov")[0], "fin-head@test.gov", "同意")
    await settled(county)
    shown = await api(county, f"/api/v1/documents/{document.id}")
    assert shown["status"] == "rejected" and shown["number"] is None
    assert [a["decision"] for a in shown["approvals"]] == [None, "reject", None]
    assert relay.to("town-staff@test.gov") == []
    # The sender revises; only version 2's requests are reminded, not the old ones left open.
    returned_to = [m.message for m in relay.to("fin-clerk@test.gov") if "退回" in str(m.message["Subject"])][0]
    await answer(county, returned_to, "fin-clerk@test.gov", "已修改，经费由县财政统筹。")
    await settled(county)
    assert county.scheduler is not None
    clock.at = at(7, 10)  # Monday: a working day later
    await county.scheduler.run_once()
    await settled(county)
    reminders = [str(m.message["Subject"]) for m in relay.to("fin-head@test.gov") if "催办" in str(m.message["Subject"])]
    assert reminders and all("第2版" in subject for subject in reminders)
    assert not [m for m in relay.messages if "督促" in str(m.message["Subject"])]


async def test_a_joint_line_naming_no_unit_is_answered_and_nothing_is_made(county: Service,
                                                                          relay: CaptureRelay) -> None:
    assert (await send(county, "fin-clerk@test.gov", "[通知] 关于X的通知", "联合发文: edu, 卫健委, 档案馆\n正文\n",
                       to=["town"])).startswith("250")
    await settled(county)
    assert await all_documents(county) == []
    [told] = [m.message for m in relay.to("fin-clerk@test.gov")]
    named = body_of(told).split("\n")[0]
    assert "卫健委" in named and "档案馆" in named and "edu" not in named


# Delegates -----------------------------------------------------------------------------


async def test_a_secretary_decides_for_the_leader_and_the_record_says_so(county: Service,
                                                                         relay: CaptureRelay) -> None:
    assert (await send(county, "clerk@test.gov", "[通知] 关于春节值班安排的通知", to=["finance"])).startswith("250")
    await settled(county)
    [document] = await all_documents(county)
    [to_leader] = requests_to(relay, "leader@test.gov")
    [to_secretary] = requests_to(relay, "secretary@test.gov")
    assert "您是李县长的签发代理人" in body_of(to_secretary)
    # Someone else holding the secretary's request changes nothing, whatever From they write.
    raw = simple_mail("staff@test.gov", str(to_secretary["Reply-To"]), "回复", "同意")
    assert (await smtp_send(county.smtp_port, "staff@test.gov", [str(to_secretary["Reply-To"])], raw)).startswith("250")
    forged = simple_mail("secretary@test.gov", str(to_secretary["Reply-To"]), "回复", "同意")
    assert (await smtp_send(county.smtp_port, "staff@test.gov", [str(to_secretary["Reply-To"])], forged)
            ).startswith("250")
    await settled(county)
    assert (await all_documents(county))[0].status == "pending_approval"

    await answer(county, to_secretary, "secretary@test.gov", "同意，按此执行")
    await settled(county)
    shown = await api(county, f"/api/v1/documents/{document.id}")
    [approval] = shown["approvals"]
    assert (approval["approver"], approval["on_behalf_of"], approval["decision"], approval["comment"]) == (
        "secretary@test.gov", "leader@test.gov", "approve", "按此执行")
    assert (shown["status"], shown["signer"]) == ("issued", "leader@test.gov")  # the leader is the 签发人
    [entry] = await audit(county, "signoff.approve")
    assert entry.actor == "secretary@test.gov" and entry.detail["on_behalf_of"] == "leader@test.gov"
    told = [m.message for m in relay.to("leader@test.gov") if "代您" in str(m.message["Subject"])]
    assert told and "张秘书" in body_of(told[0])
    # The leader's own request is now decided: replying to it changes nothing.
    await answer(county, to_leader, "leader@test.gov", "不同意")
    await settled(county)
    assert (await api(county, f"/api/v1/documents/{document.id}"))["approvals"][0]["decision"] == "approve"


async def test_a_delegate_decides_on_the_desk_and_no_one_else_can(county: Service, relay: CaptureRelay) -> None:
    from tests.web.test_pages import base, browser, confirm, csrf, sign_in
    assert (await send(county, "clerk@test.gov", "[通知] 关于X的通知", to=["finance"])).startswith("250")
    await settled(county)
    [document] = await all_documents(county)
    async with browser() as http:
        await confirm(county, http, await sign_in(county, relay, http, "staff@test.gov"))
        desk = await (await http.get(f"{base(county)}/desk")).text()
        assert "代李县长签发" not in desk
        shown = await api(county, f"/api/v1/documents/{document.id}")
        approval_id = await first_approval(county, document.id)
        refused = await http.post(f"{base(county)}/desk/approvals/{approval_id}",
                                  data={"csrf_token": csrf(desk), "decision": "approve"})
        assert refused.status == 404 and shown["status"] == "pending_approval"
    async with browser() as http:
        await confirm(county, http, await sign_in(county, relay, http, "secretary@test.gov"))
        desk = await (await http.get(f"{base(county)}/desk")).text()
        assert "代李县长签发" in desk and f'id="approve-{approval_id}"' in desk
        done = await http.post(f"{base(county)}/desk/approvals/{approval_id}",
                               data={"csrf_token": csrf(desk), "decision": "approve"}, allow_redirects=False)
        assert done.status == 303
    [approval] = (await api(county, f"/api/v1/documents/{document.id}"))["approvals"]
    assert (approval["approver"], approval["on_behalf_of"], approval["channel"]) == (
        "secretary@test.gov", "leader@test.gov", "web")


async def test_a_delegate_who_sent_the_document_cannot_sign_it_off(county: Service, relay: CaptureRelay) -> None:
    from tests.web.test_pages import base, browser, confirm, csrf, sign_in
    assert (await send(county, "secretary@test.gov", "[通知] 秘书起草的通知", to=["finance"])).startswith("250")
    await settled(county)
    [document] = await all_documents(county)
    assert requests_to(relay, "secretary@test.gov") == [] and len(requests_to(relay, "leader@test.gov")) == 1
    async with browser() as http:
        await confirm(county, http, await sign_in(county, relay, http, "secretary@test.gov"))
        desk = await (await http.get(f"{base(county)}/desk")).text()
        assert "秘书起草的通知" not in desk
        approval_id = await first_approval(county, document.id)
        refused = await http.post(f"{base(county)}/desk/approvals/{approval_id}",
                                  data={"csrf_token": csrf(desk), "decision": "approve"})
        assert refused.status == 403
    shown = await api(county, f"/api/v1/documents/{document.id}")
    assert (shown["status"], shown["approvals"][0]["decision"]) == ("pending_approval", None)


async def test_a_classified_revision_is_quarantined_and_nothing_changes(county: Service, relay: CaptureRelay) -> None:
    assert (await send(county, "clerk@test.gov", "[通知] 关于X的通知", to=["finance"])).startswith("250")
    await settled(county)
    [document] = await all_documents(county)
    await answer(county, requests_to(relay, "leader@test.gov")[0], "leader@test.gov", "不同意，请补充")
    await settled(county)
    returned = [m.message for m in relay.to("clerk@test.gov") if "退回" in str(m.message["Subject"])][0]
    await answer(county, returned, "clerk@test.gov", "机密★10年\n已补充人员名单。")
    inbound = await settled(county)
    assert (inbound[-1].status, inbound[-1].reason) == (
        "quarantined", "classified documents may not be sent by mail (marked 机密)")
    shown = await api(county, f"/api/v1/documents/{document.id}")
    assert (shown["status"], len(shown["versions"])) == ("rejected", 1)
    assert any("涉密公文" in str(m.message["Subject"]) for m in relay.to("clerk@test.gov"))
