"""Documents up and down the hierarchy (SPEC §2, §2.8), over real SMTP on both backends:
收文 from a registered outside organ, 签收 per unit, 主送/抄送, upward types, 转发 down and the
cascade the county sees, the 批复 linked to its 请示."""

from __future__ import annotations

from datetime import datetime, timezone
from email.message import Message
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from inkless.storage.models import AuditEntry, Document, InboundMessage, Recipient
from tests.conftest import (
    DOMAIN,
    CaptureRelay,
    Refused,
    api,
    settled,
    simple_mail,
    smtp_send,
)
from tests.handlers.replies import reply
from tests.web.test_api_tokens import call, make_token

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 30 November 2026, 09:00 in Shanghai.
MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI).astimezone(timezone.utc)

COUNTY_ORG: dict[str, Any] = {
    "units": [
        {"id": "county", "name": "延庆县人民政府办公室", "doc_prefix": "延政办发", "members": [
            {"email": "county-clerk@test.gov", "name": "王文书", "roles": ["clerk"]},
            {"email": "county-receiver@test.gov", "name": "收发室小周", "roles": ["receiver"]},
            {"email": "county-leader@test.gov", "name": "李县长", "roles": ["leader"]},
        ]},
        {"id": "finance", "name": "县财政局", "parent": "county", "doc_prefix": "延财发", "members": [
            {"email": "fin-clerk@test.gov", "name": "陈会计", "roles": ["clerk", "receiver"]},
            {"email": "fin-staff@test.gov", "name": "吴科员"},
        ]},
        {"id": "edu", "name": "县教育局", "parent": "county", "members": [
            {"email": "edu-clerk@test.gov", "name": "郑干事", "roles": ["clerk"]},
            {"email": "edu-staff@test.gov", "name": "钱老师"},
        ]},
        {"id": "town-a", "name": "城关镇", "parent": "county", "doc_prefix": "城政发",
         "approvers": ["ta-leader@test.gov"], "members": [
            {"email": "ta-receiver@test.gov", "name": "城关收文员", "roles": ["receiver"]},
            {"email": "ta-leader@test.gov", "name": "城关镇长", "roles": ["leader"]},
            {"email": "ta-staff@test.gov", "name": "城关科员"},
        ]},
        {"id": "town-b", "name": "永宁镇", "parent": "county", "members": [
            {"email": "tb-receiver@test.gov", "name": "永宁收文员", "roles": ["receiver"]},
            {"email": "tb-staff@test.gov", "name": "永宁科员"},
        ]},
        {"id": "town-c", "name": "康庄镇", "parent": "county", "members": [
            {"email": "tc-receiver@test.gov", "name": "康庄收文员", "roles": ["receiver"]},
            {"email": "tc-staff@test.gov", "name": "康庄科员"},
        ]},
        {"id": "village-1", "name": "东关村", "parent": "town-a", "members": [
            {"email": "v1-receiver@test.gov", "name": "东关村文书", "roles": ["receiver"]},
            {"email": "v1-staff@test.gov", "name": "东关村民委员"},
        ]},
        {"id": "village-2", "name": "西关村", "parent": "town-a", "members": [
            # No receiver: the clerk signs for the village.
            {"email": "v2-clerk@test.gov", "name": "西关村会计", "roles": ["clerk"]},
            {"email": "v2-staff@test.gov", "name": "西关村委员"},
        ]},
    ],
    "external": [
        {"id": "city-gov", "name": "北京市人民政府", "senders": ["@beijing.gov.cn", "wenshu@city.example"]},
    ],
}


@pytest.fixture
async def county(make_service: Any, relay: CaptureRelay) -> Service:
    service: Service = await make_service(relay, clock=FixedClock(MONDAY), org=COUNTY_ORG)
    return service


async def send(service: Service, sender: str, subject: str, body: str = "正文", *, to: list[str],
               cc: list[str] = (), headers: str = "") -> str:  # type: ignore[assignment]
    rcpts = [f"{unit}@{DOMAIN}" for unit in to + list(cc)]
    extra = headers + (f"\nCc: {', '.join(f'{unit}@{DOMAIN}' for unit in cc)}" if cc else "")
    raw = simple_mail(sender, ", ".join(f"{unit}@{DOMAIN}" for unit in to), subject, body, extra=extra)
    return await smtp_send(service.smtp_port, sender, rcpts, raw)


async def answer(service: Service, copy: Message, author: str, text: str) -> None:
    raw = reply(copy, author, text, style="outlook_zh")
    assert (await smtp_send(service.smtp_port, author, [str(copy["Reply-To"])], raw)).startswith("250")


def body_of(message: Message) -> str:
    part = message.get_body(("plain",))  # type: ignore[attr-defined]
    return str(part.get_content())


async def all_documents(service: Service) -> list[Document]:
    assert service.sessions is not None
    async with service.sessions() as session:
        return list((await session.scalars(select(Document).order_by(Document.id))).all())


async def copies_of(service: Service, document_id: int) -> dict[str, Recipient]:
    assert service.sessions is not None
    async with service.sessions() as session:
        rows = await session.scalars(select(Recipient).where(Recipient.document_id == document_id))
        return {row.email: row for row in rows}


def copy_to(relay: CaptureRelay, email: str, document_id: int) -> Message:
    found = [m.message for m in relay.to(email) if m.message["X-Inkless-Document"] == str(document_id)]
    assert found, f"no copy of document {document_id} for {email}"
    return found[-1]


# 收文 ---------------------------------------------------------------------------------------


async def test_a_document_from_the_city_is_registered_and_reaches_the_receivers(
        county: Service, relay: CaptureRelay) -> None:
    assert (await send(county, "wenshu@city.example", "京政发〔2026〕12号 关于做好冬季供暖保障工作的通知",
                       "各区县人民政府：\n请做好供暖保障。\n", to=["county"])).startswith("250")
    # A domain sender, its number in the body's first lines, written with round brackets.
    assert (await send(county, "bangongting@beijing.gov.cn", "[通知] 关于开展安全生产大检查的通知",
                       "京政办发(2026)3号\n\n各区县：\n请于月底前完成。\n", to=["county"])).startswith("250")
    await settled(county)
    first, second = await all_documents(county)
    assert (first.direction, first.source_organ, first.source_number, first.incoming_number, first.title,
            first.unit_id, first.status) == ("incoming", "北京市人民政府", "京政发〔2026〕12号", "延政办发收〔2026〕1号",
                                             "关于做好冬季供暖保障工作的通知", "county", "issued")
    assert (second.source_number, second.incoming_number, second.type) == ("京政办发〔2026〕3号",
                                                                           "延政办发收〔2026〕2号", "通知")
    # Only the unit's receivers get it, with what they can answer.
    assert set(await copies_of(county, first.id)) == {"county-receiver@test.gov"}
    copy = copy_to(relay, "county-receiver@test.gov", first.id)
    text = body_of(copy)
    for line in ("来文机关: 北京市人民政府", "来文字号: 京政发〔2026〕12号", "收文编号: 延政办发收〔2026〕1号", "回复“转发”"):
        assert line in text
    assert "延政办发收〔2026〕1号" in str(copy["Subject"])

    document = await api(county, f"/api/v1/documents/{first.id}")
    assert (document["direction"], document["source_organ"], document["source_number"],
            document["incoming_number"], document["number"]) == (
        "incoming", "北京市人民政府", "京政发〔2026〕12号", "延政办发收〔2026〕1号", None)
    assert document["units"] == [{"unit": "county", "role": "main", "acknowledged_at": None, "by": None}]

    await answer(county, copy, "county-receiver@test.gov", "收到")
    await settled(county)
    [unit] = (await api(county, f"/api/v1/documents/{first.id}"))["units"]
    assert unit["by"] == "county-receiver@test.gov" and unit["acknowledged_at"] is not None


async def test_strangers_and_lookalikes_of_outside_senders_are_still_refused(county: Service) -> None:
    with pytest.raises(Refused) as caught:
        await send(county, "someone@elsewhere.example", "关于X的通知", to=["county"])
    assert (caught.value.stage, caught.value.code) == ("RCPT", 550)
    # A registered organ may not write to everyone.
    with pytest.raises(Refused) as caught:
        await send(county, "wenshu@city.example", "关于X的通知", to=["all"])
    assert (caught.value.stage, caught.value.code) == ("RCPT", 550)
    # Its envelope with a stranger's header From (or the other way round) is refused at DATA.
    raw = simple_mail("mallory@elsewhere.example", f"county@{DOMAIN}", "关于X的通知")
    with pytest.raises(Refused) as caught:
        await smtp_send(county.smtp_port, "wenshu@city.example", [f"county@{DOMAIN}"], raw)
    assert (caught.value.stage, caught.value.code) == ("DATA", 550)
    raw = simple_mail("wenshu@city.example", f"county@{DOMAIN}", "关于X的通知")
    with pytest.raises(Refused) as caught:
        await smtp_send(county.smtp_port, "other@beijing.gov.cn", [f"county@{DOMAIN}"], raw)
    assert (caught.value.stage, caught.value.code) == ("DATA", 550)
    # A domain is a domain: a subdomain or a look-alike suffix is not it.
    for sender in ("x@evil-beijing.gov.cn", "x@beijing.gov.cn.evil.example"):
        with pytest.raises(Refused):
            await send(county, sender, "关于X的通知", to=["county"])
    assert await all_documents(county) == []


async def test_an_outside_sender_whose_upstream_dkim_failed_is_refused(make_service: Any, relay: CaptureRelay) -> None:
    service: Service = await make_service(relay, clock=FixedClock(MONDAY), org=COUNTY_ORG,
                                          smtp={"trusted_authserv_id": "mx.test.gov"})
    with pytest.raises(Refused) as caught:
        await send(service, "wenshu@city.example", "京政发〔2026〕12号 关于X的通知", to=["county"],
                   headers="Authentication-Results: mx.test.gov; dkim=fail header.d=city.example; spf=fail")
    assert (caught.value.stage, caught.value.code) == ("DATA", 550) and "dkim=fail" in caught.value.message
    assert (await send(service, "wenshu@city.example", "京政发〔2026〕13号 关于Y的通知", to=["county"],
                       headers="Authentication-Results: mx.test.gov; dkim=pass header.d=city.example; spf=pass"
                       )).startswith("250")
    await settled(service)
    assert [d.source_number for d in await all_documents(service)] == ["京政发〔2026〕13号"]


async def test_incoming_numbers_are_per_unit_and_gapless(county: Service) -> None:
    # One mail to two units: each registers it with its own number.
    assert (await send(county, "wenshu@city.example", "京政发〔2026〕20号 关于A的通知", to=["county", "finance"]))
    assert (await send(county, "wenshu@city.example", "京政发〔2026〕21号 关于B的通知", to=["finance"]))
    await settled(county)
    numbers = sorted((d.unit_id, d.incoming_number or "") for d in await all_documents(county))
    assert numbers == [("county", "延政办发收〔2026〕1号"), ("finance", "延财发收〔2026〕1号"),
                       ("finance", "延财发收〔2026〕2号")]


# 主送 / 抄送 and upward types ------------------------------------------------------------------


async def test_a_request_from_a_bureau_reaches_no_sibling_bureau(county: Service, relay: CaptureRelay) -> None:
    assert (await send(county, "fin-clerk@test.gov", "[请示] 关于追加冬季供暖补贴资金的请示",
                       "县政府：\n妥否，请批示。\n", to=["county"])).startswith("250")
    await settled(county)
    [request] = await all_documents(county)
    assert set(await copies_of(county, request.id)) == {
        "county-clerk@test.gov", "county-receiver@test.gov", "county-leader@test.gov"}
    assert not [m for m in relay.messages if m.rcpt.startswith(("edu-", "ta-", "v1-"))]


async def test_a_copied_unit_gets_a_copy_that_says_so_and_only_its_own_members(
        county: Service, relay: CaptureRelay) -> None:
    assert (await send(county, "county-clerk@test.gov", "[通知] 关于做好森林防火工作的通知", "各单位：\n请落实。\n",
                       to=["finance"], cc=["town-a"])).startswith("250")
    await settled(county)
    [notice] = await all_documents(county)
    assert set(await copies_of(county, notice.id)) == {
        "fin-clerk@test.gov", "fin-staff@test.gov", "ta-receiver@test.gov", "ta-leader@test.gov", "ta-staff@test.gov"}
    copied = body_of(copy_to(relay, "ta-staff@test.gov", notice.id))
    assert copied.startswith("【抄送】") and "抄送: 城关镇" in copied and "主送: 县财政局" in copied
    assert not body_of(copy_to(relay, "fin-staff@test.gov", notice.id)).startswith("【抄送】")
    units = (await api(county, f"/api/v1/documents/{notice.id}"))["units"]
    assert [(u["unit"], u["role"]) for u in units] == [("finance", "main"), ("town-a", "copy")]


# 签收 per unit, 转发 down, the cascade -----------------------------------------------------------


async def county_cascade(service: Service, relay: CaptureRelay, clock: FixedClock) -> tuple[int, int]:
    """The county's notice to three towns (two main, one copy); 城关镇 forwards it to its two
    villages through its leader's sign-off; 永宁镇 and both villages sign for it. Returns the
    county's document id and the forward's."""
    assert (await send(service, "county-clerk@test.gov", "[通知] 关于做好今冬明春森林防火工作的通知",
                       "各乡镇人民政府：\n请认真做好森林防火工作。\n", to=["town-a", "town-b"], cc=["town-c"])
            ).startswith("250")
    await settled(service)
    [notice] = await all_documents(service)
    clock.at = MONDAY.replace(hour=2, minute=30)
    forward_copy = copy_to(relay, "ta-receiver@test.gov", notice.id)
    assert "回复“转发”" in body_of(forward_copy) and "东关村" in body_of(forward_copy)
    await answer(service, forward_copy, "ta-receiver@test.gov", "转发\n请各村于12月5日前完成隐患排查。")
    await settled(service)
    child = (await all_documents(service))[-1]
    assert (child.parent_id, child.unit_id, child.status, child.title) == (
        notice.id, "town-a", "pending_approval", "关于转发《关于做好今冬明春森林防火工作的通知》的通知")
    request = [m.message for m in relay.to("ta-leader@test.gov") if "待签发" in str(m.message["Subject"])][-1]
    clock.at = MONDAY.replace(hour=3, minute=0)
    await answer(service, request, "ta-leader@test.gov", "同意")
    clock.at = MONDAY.replace(hour=3, minute=30)
    await answer(service, copy_to(relay, "tb-receiver@test.gov", notice.id), "tb-receiver@test.gov", "收到")
    await settled(service)
    clock.at = MONDAY.replace(hour=5, minute=0)
    for person in ("v1-receiver@test.gov", "v2-clerk@test.gov"):
        await answer(service, copy_to(relay, person, child.id), person, "已收到，马上落实")
    await settled(service)
    return notice.id, child.id


async def test_a_town_forwards_the_county_notice_and_the_county_sees_every_level(
        make_service: Any, relay: CaptureRelay) -> None:
    clock = FixedClock(MONDAY)
    service: Service = await make_service(relay, clock=clock, org=COUNTY_ORG)
    notice_id, child_id = await county_cascade(service, relay, clock)

    child = await api(service, f"/api/v1/documents/{child_id}")
    assert (child["status"], child["number"], child["parent_id"], child["sender"]) == (
        "issued", "城政发〔2026〕1号", notice_id, "ta-receiver@test.gov")
    assert "请各村于12月5日前完成隐患排查。" in child["versions"][0]["body"]
    [original, *_] = child["versions"][0]["attachments"]
    assert original["filename"] == "关于做好今冬明春森林防火工作的通知.txt"
    assert set(await copies_of(service, child_id)) == {
        "v1-receiver@test.gov", "v1-staff@test.gov", "v2-clerk@test.gov", "v2-staff@test.gov"}

    tree = await api(service, f"/api/v1/documents/{notice_id}/tree")
    assert (tree["id"], tree["unit"], tree["status"]) == (notice_id, "county", "issued")
    towns = {u["unit"]: u for u in tree["units"]}
    assert [(u["unit"], u["role"]) for u in tree["units"]] == [("town-a", "main"), ("town-b", "main"),
                                                                ("town-c", "copy")]
    assert towns["town-a"]["by"] == "ta-receiver@test.gov"  # forwarding is signing for it
    assert towns["town-a"]["acknowledged_at"] == "2026-11-30T10:30:00+08:00"
    assert towns["town-b"]["acknowledged_at"] == "2026-11-30T11:30:00+08:00"
    assert towns["town-c"]["acknowledged_at"] is None
    [forward] = tree["children"]
    assert (forward["id"], forward["unit"], forward["number"], forward["children"]) == (
        child_id, "town-a", "城政发〔2026〕1号", [])
    assert {(u["unit"], u["by"], u["acknowledged_at"]) for u in forward["units"]} == {
        ("village-1", "v1-receiver@test.gov", "2026-11-30T13:00:00+08:00"),
        ("village-2", "v2-clerk@test.gov", "2026-11-30T13:00:00+08:00")}

    # Two working days later the county clerk's digest names the silent town.
    clock.at = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI).astimezone(timezone.utc)
    assert service.scheduler is not None
    await service.scheduler.run_once()
    await settled(service)
    [digest] = [m.message for m in relay.to("county-clerk@test.gov") if "未签收" in str(m.message["Subject"])]
    text = body_of(digest)
    assert "尚未签收的单位" in text and "康庄镇（抄送）" in text
    assert "城关镇（" not in text and "永宁镇（" not in text
    # The silent town's receiver is reminded that their unit has not signed; its staff only of their own copy.
    [reminder] = [m.message for m in relay.to("tc-receiver@test.gov") if "催签收" in str(m.message["Subject"])]
    assert "您是康庄镇的收文人员，本单位尚未签收此件。" in body_of(reminder)
    [reminder] = [m.message for m in relay.to("tc-staff@test.gov") if "催签收" in str(m.message["Subject"])]
    assert "收文人员" not in body_of(reminder)


async def test_only_a_receiver_forwards_and_only_to_units_below(county: Service, relay: CaptureRelay) -> None:
    assert (await send(county, "county-clerk@test.gov", "[通知] 关于X的通知", to=["town-a", "town-b"])).startswith("250")
    await settled(county)
    [notice] = await all_documents(county)
    # A member who is not the town's receiver: their copy is acknowledged, nothing is forwarded.
    await answer(county, copy_to(relay, "ta-staff@test.gov", notice.id), "ta-staff@test.gov", "转发")
    # A receiver naming a unit that is not below theirs; a town with no units below.
    await answer(county, copy_to(relay, "ta-receiver@test.gov", notice.id), "ta-receiver@test.gov", "转发：东关村, 康庄镇")
    await answer(county, copy_to(relay, "tb-receiver@test.gov", notice.id), "tb-receiver@test.gov", "转发")
    await settled(county)
    assert [d.id for d in await all_documents(county)] == [notice.id]
    refusals = {m.rcpt: body_of(m.message) for m in relay.messages if str(m.message["Subject"]).startswith("未能转发")}
    assert "只有本单位的收文人员" in refusals["ta-staff@test.gov"]
    assert "康庄镇" in refusals["ta-receiver@test.gov"] and "东关村" not in refusals["ta-receiver@test.gov"].split("：")[1]
    assert "永宁镇没有下级单位" in refusals["tb-receiver@test.gov"]
    assert county.sessions is not None
    async with county.sessions() as session:
        refused = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "document.forward_refused"))).all()
    assert len(refused) == 3

    # Named by id or by name, among the units below: only those get the forward (no sign-off needed
    # would be 城关镇's leader's to give; here the request goes to him).
    await answer(county, copy_to(relay, "ta-receiver@test.gov", notice.id), "ta-receiver@test.gov",
                 "转发：西关村\n请西关村重点落实。")
    await settled(county)
    child = (await all_documents(county))[-1]
    assert (child.parent_id, child.addressed_to) == (notice.id, "village-2")
    # A second forward of the same document by the same unit is refused.
    await answer(county, copy_to(relay, "ta-receiver@test.gov", notice.id), "ta-receiver@test.gov", "转发")
    await settled(county)
    assert len(await all_documents(county)) == 2
    assert any("已于" in body_of(m.message) for m in relay.to("ta-receiver@test.gov")
               if str(m.message["Subject"]).startswith("未能转发"))


async def test_a_forward_request_only_threaded_to_a_copy_forwards_nothing(county: Service, relay: CaptureRelay) -> None:
    # The receiver's copy, forwarded to a colleague, who "replies" to the unit's receiver address
    # by hand: the token is only in References, so it does not show the writer was the one asked.
    assert (await send(county, "county-clerk@test.gov", "[通知] 关于X的通知", to=["town-a"])).startswith("250")
    await settled(county)
    [notice] = await all_documents(county)
    copy = copy_to(relay, "ta-receiver@test.gov", notice.id)
    raw = reply(copy, "ta-receiver@test.gov", "转发", style="gmail_zh", to=f"reply@{DOMAIN}")
    assert (await smtp_send(county.smtp_port, "ta-receiver@test.gov", [f"reply@{DOMAIN}"], raw)).startswith("250")
    # Someone holding the copy writes as the receiver from their own envelope: nothing at all.
    raw = reply(copy, "ta-receiver@test.gov", "转发：东关村", style="outlook_zh")
    assert (await smtp_send(county.smtp_port, "mallory@elsewhere.example", [str(copy["Reply-To"])], raw)
            ).startswith("250")
    await settled(county)
    assert [d.id for d in await all_documents(county)] == [notice.id]
    # The threaded reply still acknowledges the copy (and signs for the town) as any reply does.
    rows = await copies_of(county, notice.id)
    assert rows["ta-receiver@test.gov"].acknowledged_at is not None
    assert county.sessions is not None
    async with county.sessions() as session:
        refused = (await session.scalars(select(AuditEntry.detail).where(
            AuditEntry.action == "document.forward_refused"))).all()
        inbound = (await session.scalars(select(InboundMessage.reason).order_by(InboundMessage.id))).all()
    assert len(refused) == 1 and "References" in str(refused[0])
    assert "envelope mallory@elsewhere.example" in (inbound[-1] or "")


async def test_an_incoming_document_is_forwarded_down_by_the_receiver(county: Service, relay: CaptureRelay) -> None:
    assert (await send(county, "wenshu@city.example", "京政发〔2026〕12号 关于做好冬季供暖保障工作的通知",
                       to=["county"])).startswith("250")
    await settled(county)
    [incoming] = await all_documents(county)
    copy = copy_to(relay, "county-receiver@test.gov", incoming.id)
    await answer(county, copy, "county-receiver@test.gov", "转发：finance, 县教育局\n请结合实际抓好落实。")
    await settled(county)
    child = (await all_documents(county))[-1]
    # The county office has no approvers: the forward is issued at once, numbered by the county.
    assert (child.parent_id, child.status, child.number, child.addressed_to.split("\n")) == (
        incoming.id, "issued", "延政办发〔2026〕1号", ["finance", "edu"])
    text = body_of(copy_to(relay, "edu-staff@test.gov", child.id))
    assert "北京市人民政府《关于做好冬季供暖保障工作的通知》（京政发〔2026〕12号）" in text
    tree = await api(county, f"/api/v1/documents/{incoming.id}/tree")
    assert tree["units"][0]["by"] == "county-receiver@test.gov"
    assert [c["id"] for c in tree["children"]] == [child.id]


async def test_a_reply_to_a_request_is_linked_to_it_both_ways(county: Service, relay: CaptureRelay) -> None:
    assert (await send(county, "fin-clerk@test.gov", "[请示] 关于追加供暖补贴资金的请示", to=["county"])).startswith("250")
    await settled(county)
    [request] = await all_documents(county)
    copy = copy_to(relay, "county-clerk@test.gov", request.id)
    headers = f"In-Reply-To: {copy['Message-ID']}\nReferences: {copy['Message-ID']}"
    assert (await send(county, "county-clerk@test.gov", "[批复] 关于同意追加供暖补贴资金的批复", "县财政局：\n同意。\n",
                       to=["finance"], headers=headers)).startswith("250")
    # A 批复 that quotes a copy sent to someone else is not linked (the token is not the sender's).
    other = copy_to(relay, "county-leader@test.gov", request.id)
    assert (await send(county, "county-clerk@test.gov", "[批复] 另一件批复", to=["finance"],
                       headers=f"In-Reply-To: {other['Message-ID']}")).startswith("250")
    await settled(county)
    _, answer_doc, unlinked = await all_documents(county)
    assert (answer_doc.answers_id, unlinked.answers_id) == (request.id, None)
    assert (await api(county, f"/api/v1/documents/{request.id}"))["answered_by"] == [answer_doc.id]
    assert (await api(county, f"/api/v1/documents/{answer_doc.id}"))["answers_id"] == request.id


async def test_a_draft_forward_in_the_tree_shows_only_its_unit_and_status_to_others(
        county: Service, relay: CaptureRelay) -> None:
    assert (await send(county, "county-clerk@test.gov", "[通知] 关于X的通知", to=["town-a"])).startswith("250")
    await settled(county)
    [notice] = await all_documents(county)
    await answer(county, copy_to(relay, "ta-receiver@test.gov", notice.id), "ta-receiver@test.gov",
                 "转发\n内部意见：请村里先别声张。")
    await settled(county)
    child = (await all_documents(county))[-1]
    assert child.status == "pending_approval"
    outsider = await make_token(county, "tb-staff@test.gov", "read")
    status, tree = await call(county, "GET", f"/api/v1/documents/{notice.id}/tree", outsider)
    assert status == 200
    [node] = tree["children"]
    assert (node["id"], node["unit"], node["status"], node["title"], node["number"]) == (
        child.id, "town-a", "pending_approval", None, None)
    assert [u["unit"] for u in node["units"]] == ["village-1", "village-2"]
    assert (await call(county, "GET", f"/api/v1/documents/{child.id}", outsider))[0] == 404
    # Its sender (and its approver) see it in full.
    status, tree = await call(county, "GET", f"/api/v1/documents/{notice.id}/tree",
                              await make_token(county, "ta-receiver@test.gov", "read"))
    assert tree["children"][0]["title"] == child.title


async def test_an_outside_sender_must_be_vouched_for_where_authentication_is_trusted(
        make_service: Any, relay: CaptureRelay) -> None:
    service: Service = await make_service(relay, clock=FixedClock(MONDAY), org=COUNTY_ORG,
                                          smtp={"trusted_authserv_id": "mx.test.gov"})
    with pytest.raises(Refused) as caught:
        await send(service, "wenshu@city.example", "京政发〔2026〕12号 关于X的通知", to=["county"])
    assert (caught.value.stage, caught.value.code) == ("DATA", 550)
    assert "Sender authentication required" in caught.value.message
    # A member needs no such report (their mail comes through the county's own MTA).
    assert (await send(service, "county-clerk@test.gov", "[通知] 关于Y的通知", to=["finance"])).startswith("250")
