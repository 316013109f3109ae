"""Pages over real HTTP: one-time sign-in, the tracking page, the ack page, public disclosure."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import feedparser
import pytest

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from tests.conftest import DOMAIN, CaptureRelay, simple_mail, smtp_send, wait_for

AUTH = {"Authorization": "Bearer static-test-token"}


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies for 127.0.0.1, as a browser does."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def base(service: Service) -> str:
    return f"http://127.0.0.1:{service.web_port}"


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def issue(service: Service, relay: CaptureRelay, subject: str, sender: str = "fin-clerk@test.gov",
                unit: str = "edu", copies: int = 4) -> int:
    before = len(relay.messages)
    raw = simple_mail(sender, f"{unit}@{DOMAIN}", subject)
    assert (await smtp_send(service.smtp_port, sender, [f"{unit}@{DOMAIN}"], raw)).startswith("250")
    await wait_for(lambda: len(relay.messages) >= before + copies, what=f"mail for {subject}")
    async with browser() as http:
        page = await (await http.get(f"{base(service)}/api/v1/documents", headers=AUTH)).json()
    return int(page["items"][0]["id"])


async def sign_in(service: Service, relay: CaptureRelay, http: aiohttp.ClientSession, email: str,
                  next_path: str = "/") -> str:
    """Ask for a link, take it from the mail, confirm it; return the link."""
    form = await (await http.get(f"{base(service)}/signin?next={next_path}")).text()
    before = len(relay.to(email))
    response = await http.post(f"{base(service)}/signin", data={"email": email, "next": next_path,
                                                                  "csrf_token": csrf(form)})
    assert response.status == 200
    await wait_for(lambda: len(relay.to(email)) > before, what="the sign-in mail")
    text = relay.to(email)[-1].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://inkless.test(/signin/\S+)", text)
    assert link
    return link.group(1)


async def confirm(service: Service, http: aiohttp.ClientSession, link: str) -> aiohttp.ClientResponse:
    page = await (await http.get(base(service) + link)).text()
    return await http.post(base(service) + link, data={"csrf_token": csrf(page)}, allow_redirects=False)


async def test_signin_link_works_once(service: Service, relay: CaptureRelay) -> None:
    document_id = await issue(service, relay, "[通知] 登录测试")
    async with browser() as http:
        # Not signed in: the tracking page sends you to sign in.
        response = await http.get(f"{base(service)}/documents/{document_id}", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"].startswith("/signin?next=")
        link = await sign_in(service, relay, http, "edu-staff@test.gov", f"/documents/{document_id}")
        # GETs (link scanners) do not spend the link.
        assert (await http.get(base(service) + link)).status == 200
        response = await confirm(service, http, link)
        assert response.status == 303 and response.headers["Location"] == f"/documents/{document_id}"
        cookie = response.cookies["inkless_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
        page = await http.get(f"{base(service)}/documents/{document_id}")
        assert page.status == 200 and "登录测试" in await page.text()
    async with browser() as other:
        assert (await confirm(service, other, link)).status == 410  # used


async def test_signin_link_expires_and_strangers_get_no_mail(make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc))
    service = await make_service(relay, clock=clock)
    async with browser() as http:
        link = await sign_in(service, relay, http, "edu-staff@test.gov")
        clock.at += timedelta(minutes=16)
        assert (await confirm(service, http, link)).status == 410
        form = await (await http.get(f"{base(service)}/signin")).text()
        response = await http.post(f"{base(service)}/signin", data={"email": "stranger@else.example",
                                                                      "csrf_token": csrf(form)})
        assert response.status == 200 and "如果该邮箱属于本单位人员" in await response.text()
        # Without the form's token the POST is refused.
        assert (await http.post(f"{base(service)}/signin", data={"email": "edu-staff@test.gov"})).status == 403
    assert [m.rcpt for m in relay.messages] == ["edu-staff@test.gov"]


async def test_tracking_page_counts_match_the_api(service: Service, relay: CaptureRelay) -> None:
    relay.refuse["shared@test.gov"] = "550 5.1.1 no such user"
    document_id = await issue(service, relay, "[通知] 计数一致", copies=3)
    async with browser() as http:
        async def api() -> dict[str, Any]:
            response = await http.get(f"{base(service)}/api/v1/documents/{document_id}", headers=AUTH)
            return await response.json()  # type: ignore[no-any-return]

        async def settled() -> bool:
            return all(r["sent_at"] or r["failed"] for r in (await api())["recipients"])

        await wait_for(settled, what="relay results")
        link = await sign_in(service, relay, http, "boss@test.gov", f"/documents/{document_id}")
        await confirm(service, http, link)
        html = await (await http.get(f"{base(service)}/documents/{document_id}")).text()
        document = await api()
        recipients = document["recipients"]
        expected = {"sent": sum(1 for r in recipients if r["sent_at"]), "failed": sum(1 for r in recipients if r["failed"]),
                    "read": 0, "acknowledged": 0, "delivered": 0}
        for state, count in expected.items():
            assert re.search(rf'id="count-{state}">{count}<', html), state
        assert expected["failed"] == 1 and expected["sent"] == 2
        failed = await (await http.get(f"{base(service)}/documents/{document_id}?show=failed")).text()
        assert "shared@test.gov" in failed and "edu-clerk@test.gov" not in failed
        assert "5.1.1" in failed


async def test_drafts_are_shown_only_to_sender_and_approvers(service: Service, relay: CaptureRelay) -> None:
    raw = simple_mail("signed-clerk@test.gov", f"edu@{DOMAIN}", "[请示] 草稿")
    assert (await smtp_send(service.smtp_port, "signed-clerk@test.gov", [f"edu@{DOMAIN}"], raw)).startswith("250")
    await wait_for(lambda: len(relay.to("signer@test.gov")) == 1, what="sign-off request")
    for email, status in (("signed-clerk@test.gov", 200), ("signer@test.gov", 200), ("edu-staff@test.gov", 403)):
        async with browser() as http:
            await confirm(service, http, await sign_in(service, relay, http, email))
            assert (await http.get(f"{base(service)}/documents/1")).status == status, email


async def test_ack_link_acknowledges_only_on_post(service: Service, relay: CaptureRelay) -> None:
    document_id = await issue(service, relay, "[通知] 签收")
    text = relay.to("edu-staff@test.gov")[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://inkless.test(/ack/\S+)", text)
    assert link
    async with browser() as http:
        async def acknowledged() -> str | None:
            response = await http.get(f"{base(service)}/api/v1/documents/{document_id}", headers=AUTH)
            rows = {r["email"]: r for r in (await response.json())["recipients"]}
            return rows["edu-staff@test.gov"]["acknowledged_at"]  # type: ignore[no-any-return]

        await confirm(service, http, await sign_in(service, relay, http, "edu-staff@test.gov"))
        page = await (await http.get(base(service) + link.group(1))).text()
        assert 'id="ack-button"' in page and "钱老师" in page
        assert await acknowledged() is None  # a GET (a link scanner) never acknowledges
        assert (await http.post(base(service) + link.group(1), data={})).status == 403
        assert await acknowledged() is None
        done = await http.post(base(service) + link.group(1), data={"csrf_token": csrf(page)})
        assert done.status == 200 and 'id="done"' in await done.text()
        assert await acknowledged() is not None
        forged = link.group(1)[:-3] + "aaa"
        assert (await http.get(base(service) + forged)).status == 404


async def test_a_forwarded_ack_link_acknowledges_for_no_one_but_its_recipient(
        service: Service, relay: CaptureRelay) -> None:
    # edu-staff forwards their copy; whoever opens the link is not edu-staff unless signed in as them.
    document_id = await issue(service, relay, "[通知] 转来的签收链接")
    text = relay.to("edu-staff@test.gov")[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://inkless.test(/ack/\S+)", text)
    assert link
    url = base(service) + link.group(1)

    async def acknowledged() -> str | None:
        async with browser() as http:
            response = await http.get(f"{base(service)}/api/v1/documents/{document_id}", headers=AUTH)
            rows = {r["email"]: r for r in (await response.json())["recipients"]}
        return rows["edu-staff@test.gov"]["acknowledged_at"]  # type: ignore[no-any-return]

    # Not signed in: no button that acknowledges; the page offers a sign-in link to edu-staff's mailbox.
    async with browser() as http:
        page = await (await http.get(url)).text()
        assert 'id="ack-button"' not in page and 'id="ack-signin-button"' in page
        assert (await http.post(url, data={"csrf_token": csrf(page)})).status == 403
        assert await acknowledged() is None
        # Asking for the link sends it to edu-staff, not to whoever pressed.
        before = len(relay.to("edu-staff@test.gov"))
        form = dict(re.findall(r'name="(csrf_token|email|next)" value="([^"]*)"', page))
        assert form["email"] == "edu-staff@test.gov" and form["next"] == link.group(1)
        assert (await http.post(f"{base(service)}/signin", data=form)).status == 200
        await wait_for(lambda: len(relay.to("edu-staff@test.gov")) > before, what="the sign-in link to edu-staff")
    # Signed in as someone else (who received the forward): refused, nothing recorded.
    async with browser() as http:
        await confirm(service, http, await sign_in(service, relay, http, "edu-clerk@test.gov"))
        page = await (await http.get(url)).text()
        assert 'id="ack-button"' not in page and 'id="ack-other"' in page and "edu-clerk@test.gov" in page
        response = await http.post(url, data={"csrf_token": csrf(page)})
        assert response.status == 403
        session_form = re.search(r'action="/signout".*?name="csrf_token" value="([^"]+)"', page, re.S)
        if session_form:
            assert (await http.post(url, data={"csrf_token": session_form.group(1)})).status == 403
    assert await acknowledged() is None
    # The recipient, signed in through the link mailed to them, lands back on the page and acknowledges.
    async with browser() as http:
        mailed = await sign_in(service, relay, http, "edu-staff@test.gov", next_path=link.group(1))
        landed = await confirm(service, http, mailed)
        assert landed.headers["Location"] == link.group(1)
        page = await (await http.get(url)).text()
        done = await http.post(url, data={"csrf_token": csrf(page)})
        assert done.status == 200 and 'id="done"' in await done.text()
    assert await acknowledged() is not None


async def test_public_documents_appear_only_once_reviewed_and_are_found_and_paged(
        service: Service, relay: CaptureRelay, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.handlers.test_hierarchy import answer
    monkeypatch.setattr("inkless.web.public.PAGE_SIZE", 1)
    await issue(service, relay, "[公开][通告] 关于春节放假的通告")
    await issue(service, relay, "[通知] 内部通知")
    await issue(service, relay, "【公开】 关于征收土地的公告")
    await issue(service, relay, "[公开][通知] 关于暂缓公开事项的通知")
    # 财政局 has no approvers: nothing is public until a leader (the county office's, above it) confirms.
    async with browser() as http:
        assert 'id="public-empty"' in await (await http.get(f"{base(service)}/public")).text()
    requests = {str(m.message["Subject"]): m.message for m in relay.to("boss@test.gov")
                if "待确认公开" in str(m.message["Subject"])}
    assert len(requests) == 3
    await answer(service, requests["[待确认公开] 关于春节放假的通告"], "boss@test.gov", "同意")
    await answer(service, requests["[待确认公开] 关于暂缓公开事项的通知"], "boss@test.gov", "不同意，涉及个人信息")
    # Someone else's "同意" with the request's token publishes nothing.
    raw = simple_mail("fin-clerk@test.gov", str(requests["[待确认公开] 关于征收土地的公告"]["Reply-To"]), "回复", "同意")
    assert (await smtp_send(service.smtp_port, "fin-clerk@test.gov",
                            [str(requests["[待确认公开] 关于征收土地的公告"]["Reply-To"])], raw)).startswith("250")
    await wait_for(lambda: _all_processed(service), what="the replies")
    async with browser() as http:
        html = await (await http.get(f"{base(service)}/public")).text()
        assert "关于春节放假的通告" in html and "关于征收土地的公告" not in html and "暂缓公开" not in html
        # The leader confirms the other one on the desk.
        await confirm(service, http, await sign_in(service, relay, http, "boss@test.gov"))
        desk = await (await http.get(f"{base(service)}/desk")).text()
        held = re.findall(r'id="publish-(\d+)"', desk)
        assert len(held) == 1  # the refused one is no longer asked about
        done = await http.post(f"{base(service)}/desk/publish/{held[0]}", data={"csrf_token": csrf(desk)},
                               allow_redirects=False)
        assert done.status == 303
    async with browser() as http:
        first = await (await http.get(f"{base(service)}/public")).text()
        assert first.count("<tr><td>") == 1 and 'id="more"' in first  # a page of one
        found = await (await http.get(f"{base(service)}/public?q=土地")).text()
        assert "关于征收土地的公告" in found and "春节" not in found
        atom = await http.get(f"{base(service)}/public/feed.atom")
        assert atom.content_type == "application/atom+xml"
        feed = feedparser.parse(await atom.read())
        assert not feed.bozo, feed.bozo_exception
        older = [link.href for link in feed.feed.links if link.rel == "next"]
        second = feedparser.parse(await (await http.get(older[0].replace("http://inkless.test", base(service)))).read())
        titles = [entry.title for entry in feed.entries + second.entries]
        assert sorted(titles) == sorted(["关于春节放假的通告", "关于征收土地的公告"])
        assert all(entry.link.startswith("http://inkless.test/public/") for entry in feed.entries)
        public = await http.get(f"{base(service)}/public/{feed.entries[0].link.rsplit('/', 1)[1]}")
        assert public.status == 200
        assert (await http.get(f"{base(service)}/public/2")).status == 404  # not public


async def _all_processed(service: Service) -> bool:
    from sqlalchemy import select

    from inkless.storage.models import InboundMessage
    assert service.sessions is not None
    async with service.sessions() as session:
        statuses = (await session.scalars(select(InboundMessage.status))).all()
    return all(status not in ("new", "processing") for status in statuses)


@pytest.mark.parametrize("language", ["en"])
async def test_pages_in_english(make_service, relay: CaptureRelay, language: str) -> None:  # type: ignore[no-untyped-def]
    service = await make_service(relay, language=language)
    async with browser() as http:
        html = await (await http.get(f"{base(service)}/signin")).text()
    assert 'lang="en"' in html and "Send sign-in link" in html
