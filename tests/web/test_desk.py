"""My desk over real HTTP, signed in through the mailed link: sign-off, receipts, meetings with
RSVP, open tasks, short messages, the calendar feed URL, the chat link code and the links;
CSRF refusals and other people's items change nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from inkless.storage.models import Approval, Attendee, Event, Recipient, Task, TaskEntry
from tests.chat.botapi import FakeBotAPI, botapi
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
from tests.web.test_pages import AUTH, base, browser, confirm, csrf, issue

__all__ = ["botapi"]

# Wednesday 2 December 2026, 10:00 in Shanghai.
NOW = datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc)
SIGNER, CHIEF, SIGNED_CLERK = "signer@test.gov", "chief@test.gov", "signed-clerk@test.gov"


async def signin_link(service: Service, relay: CaptureRelay, http: aiohttp.ClientSession, email: str) -> str:
    """Ask for a sign-in link and take it from the mail that carries it (reminders may arrive meanwhile)."""
    form = await (await http.get(f"{base(service)}/signin?next=/desk")).text()
    before = len(relay.to(email))
    response = await http.post(f"{base(service)}/signin", data={"email": email, "next": "/desk",
                                                                  "csrf_token": csrf(form)})
    assert response.status == 200

    def link() -> str | None:
        for captured in relay.to(email)[before:]:
            body = captured.message.get_body(("plain",))
            found = re.search(r"http://inkless.test(/signin/\S+)", body.get_content() if body else "")
            if found:
                return found.group(1)
        return None

    await wait_for(lambda: link() is not None, what=f"the sign-in mail to {email}")
    return link() or ""


@asynccontextmanager
async def member(service: Service, relay: CaptureRelay, email: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A browser signed in as email through the mailed one-time link."""
    async with browser() as http:
        response = await confirm(service, http, await signin_link(service, relay, http, email))
        assert response.status == 303 and response.headers["Location"] == "/desk"
        yield http


async def desk(service: Service, http: aiohttp.ClientSession, query: str = "") -> str:
    response = await http.get(f"{base(service)}/desk{query}")
    assert response.status == 200
    return await response.text()


async def post(service: Service, http: aiohttp.ClientSession, path: str, **form: str) -> aiohttp.ClientResponse:
    """Submit a desk form with the page's CSRF token (unless the test passes its own)."""
    if "csrf_token" not in form:
        form["csrf_token"] = csrf(await desk(service, http))
    return await http.post(base(service) + path, data=form, allow_redirects=False)


def section(html: str, name: str) -> str:
    """One section of the page, so assertions look where a user would."""
    match = re.search(rf'<section id="{name}">(.*?)</section>', html, re.S)
    assert match, f"no section {name}"
    return match.group(1)


async def submit_for_signoff(service: Service, relay: CaptureRelay, subject: str = "[请示] 关于申请专项经费的请示",
                             body: str = "县政府：\n现申请专项经费二十万元。\n") -> int:
    raw = simple_mail(SIGNED_CLERK, f"edu@{DOMAIN}", subject, body)
    assert (await smtp_send(service.smtp_port, SIGNED_CLERK, [f"edu@{DOMAIN}"], raw)).startswith("250")
    await next_mail(relay, SIGNER)
    return int((await api(service, "/api/v1/documents"))["items"][0]["id"])


async def approvals(service: Service, document_id: int) -> list[dict[str, Any]]:
    return (await api(service, f"/api/v1/documents/{document_id}"))["approvals"]  # type: ignore[no-any-return]


async def recipient(service: Service, document_id: int, email: str) -> dict[str, Any]:
    rows = (await api(service, f"/api/v1/documents/{document_id}"))["recipients"]
    return next(row for row in rows if row["email"] == email)  # type: ignore[no-any-return]


# Sign-in ------------------------------------------------------------------------------------


async def test_desk_needs_sign_in(service: Service) -> None:
    async with browser() as http:
        response = await http.get(f"{base(service)}/desk", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/signin?next=/desk"
        for path in ("/desk/feed", "/desk/chat-code", "/desk/approvals/1", "/desk/receipts/1", "/desk/meetings/1"):
            assert (await http.post(base(service) + path, data={"csrf_token": "x"})).status == 403, path


# Sign-off ------------------------------------------------------------------------------------


async def test_approve_and_reject_from_the_desk_move_the_chain_like_mail_replies(
        service: Service, relay: CaptureRelay) -> None:
    document_id = await submit_for_signoff(service, relay)
    [first, second] = await approvals(service, document_id)
    async with member(service, relay, SIGNER) as http:
        pending = section(await desk(service, http), "approvals")
        assert "关于申请专项经费的请示" in pending and "现申请专项经费二十万元" in pending
        approval_id = int(re.findall(r'id="approval-(\d+)"', pending)[0])
        response = await post(service, http, f"/desk/approvals/{approval_id}", decision="approve")
        assert response.status == 303 and response.headers["Location"] == "/desk?done=approved"
        assert "已同意" in await desk(service, http, "?done=approved")
        assert "没有待您审批的公文" in section(await desk(service, http), "approvals")
        # A decision is final: the same button again changes nothing.
        again = await post(service, http, f"/desk/approvals/{approval_id}", decision="reject")
        assert again.status == 409
    await next_mail(relay, CHIEF)  # the next approver is asked, as after a mail reply
    async with member(service, relay, CHIEF) as http:
        pending = section(await desk(service, http), "approvals")
        [chief_approval] = re.findall(r'id="approval-(\d+)"', pending)
        response = await post(service, http, f"/desk/approvals/{chief_approval}", decision="reject",
                              comment="请补充经费测算依据")
        assert response.headers["Location"] == "/desk?done=rejected"
    returned = await next_mail(relay, SIGNED_CLERK)
    assert "请补充经费测算依据" in returned.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    document = await api(service, f"/api/v1/documents/{document_id}")
    assert document["status"] == "rejected"
    assert [(a["approver"], a["decision"], a["comment"], a["channel"]) for a in document["approvals"]] == [
        (first["approver"], "approve", None, "web"), (second["approver"], "reject", "请补充经费测算依据", "web")]


async def test_csrf_and_other_peoples_items_are_refused_and_change_nothing(
        make_service: Any, relay: CaptureRelay) -> None:
    service: Service = await make_service(relay, clock=FixedClock(NOW))
    document_id = await submit_for_signoff(service, relay)
    approval_id = (await approvals_rows(service))[0]
    issued = await issue(service, relay, "[通知] 关于做好安全生产工作的通知")
    await call_meeting(service, "[会议] 财政工作例会", "时间：2026年12月2日 14:30-16:00\n地点：财政局二楼会议室\n")
    await settled(service)
    fin_staff = await attendee_id(service, "fin-staff@test.gov")
    edu_copy = await recipient_id(service, issued, "edu-staff@test.gov")
    async with member(service, relay, SIGNER) as http:
        for token in ({}, {"csrf_token": ""}, {"csrf_token": "forged-token-000000000000"}):
            response = await http.post(f"{base(service)}/desk/approvals/{approval_id}",
                                       data={"decision": "approve", **token}, allow_redirects=False)
            assert response.status == 403, token
        signer_token = csrf(await desk(service, http))
    async with member(service, relay, "edu-staff@test.gov") as http:
        # Another session's token does not fit this session.
        response = await post(service, http, f"/desk/receipts/{edu_copy}", csrf_token=signer_token)
        assert response.status == 403
    async with member(service, relay, "fin-staff@test.gov") as http:
        # Someone else's approval, copy and invitation: not found, nothing changes.
        assert (await post(service, http, f"/desk/approvals/{approval_id}", decision="approve")).status == 404
        assert (await post(service, http, f"/desk/receipts/{edu_copy}")).status == 404
        assert (await post(service, http, "/desk/approvals/nope", decision="approve")).status == 404
        assert (await post(service, http, f"/desk/approvals/{approval_id}", decision="maybe")).status == 400
    async with member(service, relay, "edu-staff@test.gov") as http:
        assert (await post(service, http, f"/desk/meetings/{fin_staff}", answer="accept", sequence="0")).status == 404
    assert [a["decision"] for a in await approvals(service, document_id)] == [None, None]
    assert (await recipient(service, issued, "edu-staff@test.gov"))["acknowledged_at"] is None
    event = (await api(service, "/api/v1/events"))["items"][0]
    assert {a["email"]: a["partstat"] for a in event["attendees"]}["fin-staff@test.gov"] == "NEEDS-ACTION"


async def approvals_rows(service: Service) -> list[int]:
    assert service.sessions is not None
    async with service.sessions() as session:
        return list((await session.scalars(select(Approval.id).order_by(Approval.id))).all())


async def recipient_id(service: Service, document_id: int, email: str) -> int:
    assert service.sessions is not None
    async with service.sessions() as session:
        found = await session.scalar(select(Recipient.id).where(Recipient.document_id == document_id,
                                                                Recipient.email == email))
    assert found is not None
    return found


async def attendee_id(service: Service, email: str, title: str | None = None) -> int:
    assert service.sessions is not None
    query = select(Attendee.id).join(Event, Event.id == Attendee.event_id).where(Attendee.email == email)
    if title is not None:
        query = query.where(Event.title == title)
    async with service.sessions() as session:
        found = await session.scalar(query.order_by(Attendee.id.desc()))
    assert found is not None
    return found


# Documents to acknowledge --------------------------------------------------------------------


async def test_opening_a_document_reads_it_and_the_button_acknowledges_it(service: Service,
                                                                          relay: CaptureRelay) -> None:
    document_id = await issue(service, relay, "[通知] 关于做好冬季防火工作的通知")
    other_id = await issue(service, relay, "[通报] 关于第三季度工作情况的通报")
    async with member(service, relay, "edu-staff@test.gov") as http:
        documents = section(await desk(service, http), "documents")
        assert "关于做好冬季防火工作的通知" in documents and "关于第三季度工作情况的通报" in documents
        assert documents.count("未阅") == 2
        # Opening the tracking page as a recipient reads the copy; it does not acknowledge it.
        assert (await http.get(f"{base(service)}/documents/{document_id}")).status == 200
        copy = await recipient(service, document_id, "edu-staff@test.gov")
        assert copy["read_at"] is not None and copy["acknowledged_at"] is None
        assert (await recipient(service, other_id, "edu-staff@test.gov"))["read_at"] is None
        assert section(await desk(service, http), "documents").count("未阅") == 1
        own = await recipient_id(service, document_id, "edu-staff@test.gov")
        response = await post(service, http, f"/desk/receipts/{own}")
        assert response.status == 303 and response.headers["Location"] == "/desk?done=acknowledged#documents"
        documents = section(await desk(service, http), "documents")
        assert "关于做好冬季防火工作的通知" not in documents and "关于第三季度工作情况的通报" in documents
    copy = await recipient(service, document_id, "edu-staff@test.gov")
    assert copy["acknowledged_at"] is not None and copy["read_at"] is not None
    # Someone else opening the page reads nothing of edu-staff's.
    async with member(service, relay, "boss@test.gov") as http:
        assert (await http.get(f"{base(service)}/documents/{other_id}")).status == 200
    assert (await recipient(service, other_id, "edu-staff@test.gov"))["read_at"] is None


# Meetings -------------------------------------------------------------------------------------


async def call_meeting(service: Service, subject: str, body: str, to: str = "finance",
                       sender: str = "clerk@test.gov") -> None:
    raw = simple_mail(sender, f"{to}@{DOMAIN}", subject, body)
    assert (await smtp_send(service.smtp_port, sender, [f"{to}@{DOMAIN}"], raw)).startswith("250")


async def test_todays_and_this_weeks_meetings_with_rsvp(make_service: Any, relay: CaptureRelay) -> None:
    service: Service = await make_service(relay, clock=FixedClock(NOW))
    await call_meeting(service, "[会议] 年终预算协调会", "时间：2026年12月2日 14:30-16:00\n地点：县政府三楼会议室\n")
    await call_meeting(service, "[会议] 财政收支分析会", "时间：2026年12月4日 9:00-11:00\n地点：财政局会议室\n")
    await call_meeting(service, "[会议] 下周的会", "时间：2026年12月7日 9:00-10:00\n地点：财政局\n")
    await call_meeting(service, "[日程] 全县财政系统培训", "时间：2026-12-03 09:00-17:00\n地点：党校\n")
    await wait_for(lambda: len(relay.to("fin-staff@test.gov")) >= 3, what="three invitations")
    await settled(service)
    today_id = await attendee_id(service, "fin-staff@test.gov", "年终预算协调会")
    friday_id = await attendee_id(service, "fin-staff@test.gov", "财政收支分析会")
    async with member(service, relay, "fin-staff@test.gov") as http:
        schedule = section(await desk(service, http), "schedule")
        today, week = schedule.split("本周日程")
        assert "年终预算协调会" in today and "县政府三楼会议室" in today and "14:30–16:00" in today
        assert "财政收支分析会" in week and "全县财政系统培训" in week and "日程安排" in week
        assert "下周的会" not in schedule  # next Monday is next week
        assert f'id="partstat-{today_id}">未答复<' in schedule
        response = await post(service, http, f"/desk/meetings/{today_id}", answer="accept", sequence="0")
        assert response.status == 303 and response.headers["Location"] == "/desk?done=accepted#schedule"
        response = await post(service, http, f"/desk/meetings/{friday_id}", answer="decline", sequence="0")
        assert response.headers["Location"] == "/desk?done=declined#schedule"
        schedule = section(await desk(service, http), "schedule")
        assert f'id="partstat-{today_id}">参加<' in schedule and f'id="partstat-{friday_id}">请假<' in schedule
        # A page showing an older version of the meeting is not answered on.
        stale = await post(service, http, f"/desk/meetings/{today_id}", answer="decline", sequence="7")
        assert stale.status == 409
        assert (await post(service, http, f"/desk/meetings/{today_id}", answer="perhaps", sequence="0")).status == 400
    events = {e["title"]: e for e in (await api(service, "/api/v1/events"))["items"]}
    answers = {title: {a["email"]: a["partstat"] for a in events[title]["attendees"]}["fin-staff@test.gov"]
               for title in ("年终预算协调会", "财政收支分析会")}
    assert answers == {"年终预算协调会": "ACCEPTED", "财政收支分析会": "DECLINED"}


# Tasks ----------------------------------------------------------------------------------------


async def add_task(service: Service, unit: str, title: str, deadline: date, *, status: str = "open",
                   owner: str = "boss@test.gov", progress: tuple[tuple[str, str], ...] = ()) -> int:
    """A supervision task row as the tasks backend stores it, with progress entries (text, by)."""
    assert service.sessions is not None
    now = service.clock.now()
    async with service.sessions() as session, session.begin():
        task = Task(unit_id=unit, title=title, body="", owner=owner, deadline=deadline, status=status,
                    source="mail", created_at=now - timedelta(days=10), updated_at=now,
                    closed_at=now - timedelta(days=1) if status == "done" else None, reminders=[])
        session.add(task)
        await session.flush()
        for n, (text, by) in enumerate(progress):
            session.add(TaskEntry(task_id=task.id, at=now - timedelta(days=5 - n), by=by, kind="progress", text=text,
                                  channel="mail"))
        return task.id


async def test_open_tasks_of_my_units_and_the_board(make_service: Any, relay: CaptureRelay) -> None:
    service: Service = await make_service(relay, clock=FixedClock(NOW))
    later = await add_task(service, "finance", "年度预算执行情况报告", date(2026, 12, 20), status="in_progress",
                           progress=(("已完成初稿", "fin-clerk@test.gov"), ("正在征求意见", "fin-clerk@test.gov")))
    overdue = await add_task(service, "finance", "清理拖欠企业账款", date(2026, 11, 30))
    await add_task(service, "finance", "已办结的事项", date(2026, 11, 20), status="done")
    await add_task(service, "edu", "校舍安全排查", date(2026, 12, 10))
    async with member(service, relay, "fin-staff@test.gov") as http:
        tasks = section(await desk(service, http), "tasks")
        assert re.findall(r'id="task-(\d+)"', tasks) == [str(overdue), str(later)]
        assert "已超期" in tasks and "进行中" in tasks and "校舍安全排查" not in tasks and "已办结的事项" not in tasks
        board = await (await http.get(f"{base(service)}/tasks")).text()
    finance = re.search(r'<section class="unit" id="unit-finance">(.*?)</section>', board, re.S)
    edu = re.search(r'<section class="unit" id="unit-edu">(.*?)</section>', board, re.S)
    assert finance and edu
    states = re.findall(r'id="task-(\d+)".*?data-state="(\w+)"', finance.group(1), re.S)
    assert [state for _, state in states] == ["overdue", "in_progress", "done"]
    assert states[0][0] == str(overdue)
    assert "正在征求意见" in finance.group(1) and "已完成初稿" not in finance.group(1)  # the latest progress only
    assert "李县长" in finance.group(1) and "已办结" in finance.group(1) and "已超期" in finance.group(1)
    assert "校舍安全排查" in edu.group(1) and "待办" in edu.group(1)


# Short messages, the feed, links, the chat code ------------------------------------------------


async def test_short_messages_feed_url_and_links(make_service: Any, relay: CaptureRelay) -> None:
    links = [{"title": "县政府门户", "url": "https://www.example.gov.cn/"},
             {"title": "网上办事大厅", "url": "http://ban.example.gov.cn/"}]
    service: Service = await make_service(relay, desk={"links": links})
    async with aiohttp.ClientSession() as http:
        for n in range(12):
            response = await http.post(f"{base(service)}/api/v1/messages", headers=AUTH,
                                       json={"from": "clerk@test.gov", "to": ["finance"], "text": f"第{n}条：请于今日下班前报送材料"})
            assert response.status == 202
    await settled(service)
    async with member(service, relay, "fin-staff@test.gov") as http:
        html = await desk(service, http)
        notes = section(html, "messages")
        assert re.findall(r"第(\d+)条", notes) == [str(n) for n in range(11, 1, -1)]  # newest ten
        assert "王文书" in notes
        assert '<a href="https://www.example.gov.cn/"' in section(html, "links") and "网上办事大厅" in html
        assert "本系统未启用聊天机器人" in section(html, "chat")
        assert (await post(service, http, "/desk/chat-code")).status == 404
        feed = re.search(r'id="feed-url">http://inkless.test(/calendar/\S+?\.ics)<', html)
        assert feed
        assert feed.group(0) in await desk(service, http)  # the same URL on every visit
        response = await http.get(base(service) + feed.group(1))
        assert response.status == 200 and "BEGIN:VCALENDAR" in await response.text()
        rotated = await post(service, http, "/desk/feed")
        assert rotated.headers["Location"] == "/desk?done=rotated#feed"
        fresh = re.search(r'id="feed-url">http://inkless.test(/calendar/\S+?\.ics)<', await desk(service, http))
        assert fresh and fresh.group(1) != feed.group(1)
        assert (await http.get(base(service) + feed.group(1))).status == 404
        assert (await http.get(base(service) + fresh.group(1))).status == 200


async def test_chat_link_code_from_the_desk_links_the_bot(botapi: FakeBotAPI, make_service: Any,
                                                         relay: CaptureRelay) -> None:
    service: Service = await make_service(relay, telegram={"token": botapi.token, "base_url": botapi.base_url,
                                                          "poll_timeout": 1, "per_chat_interval": 0})
    await wait_for(lambda: service.bot is not None and service.bot.state == "ok", what="the bot to start")
    async with member(service, relay, "fin-staff@test.gov") as http:
        assert 'id="get-code"' in section(await desk(service, http), "chat")
        response = await post(service, http, "/desk/chat-code")
        assert response.status == 200
        page = await response.text()
    code = re.search(r'id="start-command">/start ([2-9A-Z]{10})<', page)
    assert code and "30 分钟内有效" in page
    await botapi.push_text(f"/start {code.group(1)}", chat_id=777)
    [linked] = await botapi.wait_sent(777, 1)
    assert linked["text"].startswith("已绑定：吴科员")


@pytest.mark.parametrize("language", ["en"])
async def test_desk_and_board_in_english(make_service: Any, relay: CaptureRelay, language: str) -> None:
    service: Service = await make_service(relay, clock=FixedClock(NOW), language=language)
    await add_task(service, "finance", "Clear overdue payments", date(2026, 11, 30))
    async with member(service, relay, "fin-staff@test.gov") as http:
        html = await desk(service, http)
        board = await (await http.get(f"{base(service)}/tasks")).text()
    assert 'lang="en"' in html and "Awaiting my sign-off" in html and "Open tasks of my units" in html
    assert "Overdue" in section(html, "tasks") and "我的办公桌" not in html
    assert "Supervision tasks" in board and "Overdue" in board and "Assigned by" in board
