"""The admin page over real HTTP: admins only; quarantine with the raw message and reprocessing;
the outbound queue with retry; the organisation overview."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from inkless.bridge.app import Service
from inkless.bridge.store import Arrival
from inkless.org import OrgSpec
from inkless.storage.models import AuditEntry, InboundMessage, OutboxMessage
from inkless.storage.org import import_org
from tests.conftest import (
    DOMAIN,
    TEST_ORG,
    CaptureRelay,
    api,
    settled,
    simple_mail,
    wait_for,
)
from tests.web.test_desk import member
from tests.web.test_pages import base, csrf, issue

ADMIN = "admin@test.gov"
NEWCOMER = "newcomer@test.gov"


async def admin_page(service: Service, http: aiohttp.ClientSession) -> str:
    response = await http.get(f"{base(service)}/admin")
    assert response.status == 200
    return await response.text()


def section(html: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', html, re.S)
    assert match, f"no section {name}"
    return match.group(1)


async def inbound(service: Service, inbound_id: int) -> InboundMessage:
    assert service.sessions is not None
    async with service.sessions() as session:
        row = await session.get(InboundMessage, inbound_id)
    assert row is not None
    return row


async def test_only_admins_get_in(service: Service, relay: CaptureRelay) -> None:
    async with aiohttp.ClientSession() as http:
        response = await http.get(f"{base(service)}/admin", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/signin?next=/admin"
        assert (await http.post(f"{base(service)}/admin/inbound/1/reprocess", data={"csrf_token": "x"})).status == 403
    async with member(service, relay, "boss@test.gov") as http:
        token = csrf(await (await http.get(f"{base(service)}/desk")).text())
        assert 'href="/admin"' not in await (await http.get(f"{base(service)}/desk")).text()
        for method, path in (("GET", "/admin"), ("GET", "/admin/inbound/1.eml"),
                             ("POST", "/admin/inbound/1/reprocess"), ("POST", "/admin/outbox/1/retry")):
            response = await http.request(method, base(service) + path, data={"csrf_token": token})
            assert response.status == 403, path
            assert "仅系统管理员" in await response.text()
    async with member(service, relay, ADMIN) as http:
        assert 'href="/admin"' in await (await http.get(f"{base(service)}/desk")).text()
        html = await admin_page(service, http)
    org = section(html, "org")
    assert re.search(r'id="unit-finance"><td>财政局 <small>finance</small></td><td>县政府办公室</td>'
                     r'<td class="members">3</td>', org)
    assert re.search(r'id="unit-signed">.*?<td class="members">4</td>', org)
    assert ('<tr><td>李县长</td><td>boss@test.gov</td><td>县政府办公室</td>\n'
            '<td class="roles"><span class="tag">领导</span> </td></tr>') in org
    assert ('<tr><td>两边都在</td><td>shared@test.gov</td><td>财政局、教育局</td>\n<td class="roles"></td></tr>') in org
    assert "没有隔离的邮件" in section(html, "quarantine") and "没有发送失败的邮件" in section(html, "outbox")


async def test_reprocess_after_the_org_file_lists_the_sender(service: Service, relay: CaptureRelay) -> None:
    # Mail read from the county's mailbox (IMAP ingress stores it like this) from someone the
    # org file does not list yet: quarantined with the reason.
    raw = simple_mail(NEWCOMER, f"edu@{DOMAIN}", "[通知] 关于新设机构对接工作的通知", "请各单位做好对接。")
    assert service.store is not None
    inbound_id = await service.store.store(Arrival(peer="imap:test", mail_from=NEWCOMER,
                                                   rcpt_tos=[f"edu@{DOMAIN}"], raw=raw, source="imap"))
    await settled(service)
    first = await inbound(service, inbound_id)
    assert first.status == "quarantined" and "not a member" in (first.reason or "")
    async with member(service, relay, ADMIN) as http:
        html = await admin_page(service, http)
        row = re.search(rf'<tr id="inbound-{inbound_id}">(.*?)</tr>', section(html, "quarantine"), re.S)
        assert row and NEWCOMER in row.group(1) and "not a member" in row.group(1)
        assert re.search(r'id="depth-inbound_quarantined">1<', html)
        download = await http.get(f"{base(service)}/admin/inbound/{inbound_id}.eml")
        assert download.status == 200 and download.content_type == "message/rfc822"
        assert await download.read() == raw
        assert (await http.get(f"{base(service)}/admin/inbound/999.eml")).status == 404
        # Without the session's token nothing happens.
        for form in ({}, {"csrf_token": "forged"}):
            response = await http.post(f"{base(service)}/admin/inbound/{inbound_id}/reprocess", data=form)
            assert response.status == 403
        assert (await inbound(service, inbound_id)).status == "quarantined"

        # The org file now lists the newcomer; the admin sends the message round again.
        org: dict[str, Any] = {"units": [dict(unit) for unit in TEST_ORG["units"]]}
        org["units"][0]["members"] = [*org["units"][0]["members"], {"email": NEWCOMER, "name": "新同事",
                                                                    "roles": ["clerk"]}]
        assert service.sessions is not None
        async with service.sessions() as session, session.begin():
            await import_org(session, OrgSpec.model_validate(org), now=service.clock.now())
        await service.refresh_directory()
        response = await http.post(f"{base(service)}/admin/inbound/{inbound_id}/reprocess",
                                   data={"csrf_token": csrf(html)}, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/admin?done=reprocessed#quarantine"
        await wait_for(lambda: len(relay.to("edu-staff@test.gov")) >= 1, what="the document's copies")
        await settled(service)
        again = await http.post(f"{base(service)}/admin/inbound/{inbound_id}/reprocess",
                                data={"csrf_token": csrf(html)}, allow_redirects=False)
        assert again.status == 409
        assert "没有隔离的邮件" in section(await admin_page(service, http), "quarantine")
    done = await inbound(service, inbound_id)
    assert (done.status, done.attempts, done.reason) == ("done", 1, None)
    [document] = (await api(service, "/api/v1/documents"))["items"]
    assert (document["title"], document["sender"], document["status"]) == (
        "关于新设机构对接工作的通知", NEWCOMER, "issued")
    assert service.sessions is not None
    async with service.sessions() as session:
        audit = (await session.execute(select(AuditEntry.actor, AuditEntry.detail).where(
            AuditEntry.action == "inbound.reprocess", AuditEntry.subject_id == str(inbound_id)))).all()
    assert [(actor, "not a member" in detail["reason"]) for actor, detail in audit] == [(ADMIN, True)]


async def outbox_rows(service: Service, rcpt: str) -> list[OutboxMessage]:
    assert service.sessions is not None
    async with service.sessions() as session:
        return list((await session.scalars(select(OutboxMessage).where(OutboxMessage.rcpt == rcpt)
                                           .order_by(OutboxMessage.id))).all())


async def test_retry_requeues_a_failed_outbound_copy(service: Service, relay: CaptureRelay) -> None:
    relay.refuse["edu-staff@test.gov"] = "550 5.1.1 mailbox unavailable"
    document_id = await issue(service, relay, "[通知] 关于开展消防检查的通知", copies=3)
    await settled(service)

    async def copy() -> dict[str, Any]:
        rows = (await api(service, f"/api/v1/documents/{document_id}"))["recipients"]
        return next(r for r in rows if r["email"] == "edu-staff@test.gov")  # type: ignore[no-any-return]

    assert (await copy())["failed"] is True
    [failed] = await outbox_rows(service, "edu-staff@test.gov")
    assert failed.status == "failed"
    async with member(service, relay, ADMIN) as http:
        html = await admin_page(service, http)
        row = re.search(rf'<tr id="outbox-{failed.id}">(.*?)</tr>', section(html, "outbox"), re.S)
        assert row and "edu-staff@test.gov" in row.group(1) and "5.1.1" in row.group(1)
        assert re.search(r'id="depth-outbound_failed">1<', html)
        assert (await http.post(f"{base(service)}/admin/outbox/{failed.id}/retry", data={})).status == 403
        assert [r.status for r in await outbox_rows(service, "edu-staff@test.gov")] == ["failed"]
        # The mailbox is back: the admin retries and the copy goes out.
        del relay.refuse["edu-staff@test.gov"]
        response = await http.post(f"{base(service)}/admin/outbox/{failed.id}/retry",
                                   data={"csrf_token": csrf(html)}, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/admin?done=retried#outbox"
        await wait_for(lambda: len(relay.to("edu-staff@test.gov")) == 1, what="the retried copy")
        await settled(service)
        again = await http.post(f"{base(service)}/admin/outbox/{failed.id}/retry",
                                data={"csrf_token": csrf(html)}, allow_redirects=False)
        assert again.status == 409
        assert "没有发送失败的邮件" in section(await admin_page(service, http), "outbox")
    [sent] = await outbox_rows(service, "edu-staff@test.gov")
    assert (sent.status, sent.last_error) == ("sent", None)
    now = await copy()
    assert now["failed"] is False and now["sent_at"] is not None and now["reason"] is None
    assert service.sessions is not None
    async with service.sessions() as session:
        actors = (await session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "outbound.retry"))).all()
    assert list(actors) == [ADMIN]


@pytest.mark.parametrize("language", ["en"])
async def test_admin_page_in_english(make_service: Any, relay: CaptureRelay, language: str) -> None:
    service: Service = await make_service(relay, language=language)
    async with member(service, relay, ADMIN) as http:
        html = await admin_page(service, http)
        refused = await http.get(f"{base(service)}/admin/inbound/1.eml")
    assert refused.status == 404
    assert "Quarantine" in html and "Outbound queue" in html and "Organisation" in html and "系统管理" not in html
