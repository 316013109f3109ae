"""Supervision tasks over real SMTP: assignment, progress, done, extension asked and granted
or refused, and reminders and escalation on a controllable clock across the 2026 Spring
Festival (15–23 February off, Saturday 14 and 28 February worked)."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from email.message import Message
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from tests.conftest import (
    DOMAIN,
    CaptureRelay,
    api,
    next_mail,
    settled,
    simple_mail,
    smtp_send,
)
from tests.handlers.replies import reply

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLERK = "clerk@test.gov"
FINANCE = ["fin-clerk@test.gov", "fin-staff@test.gov", "shared@test.gov"]


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI).astimezone(timezone.utc)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at(date(2026, 2, 9)))  # Monday before the Spring Festival


@pytest.fixture
async def service(service_at: Any, clock: FixedClock) -> Service:
    return await service_at(clock, workflow={"task_remind_before": [3, 1],  # type: ignore[no-any-return]
                                             "task_escalate_after": 2})


async def assign(service: Service, body: str, *, to: tuple[str, ...] = ("finance",),
                 subject: str = "[督办] 年底前完成校舍安全检查") -> None:
    rcpts = [f"{unit}@{DOMAIN}" for unit in to]
    raw = simple_mail(CLERK, ", ".join(rcpts), subject, body)
    assert (await smtp_send(service.smtp_port, CLERK, rcpts, raw)).startswith("250")


async def tasks(service: Service) -> list[dict[str, Any]]:
    await settled(service)
    return sorted((await api(service, "/api/v1/tasks"))["items"], key=lambda t: t["id"])


async def answer(service: Service, original: Message, author: str, text: str) -> None:
    raw = reply(original, author, text)
    assert (await smtp_send(service.smtp_port, author, [str(original["Reply-To"])], raw)).startswith("250")


async def test_assignment_makes_one_task_per_unit_and_tells_every_member(service: Service,
                                                                         relay: CaptureRelay) -> None:
    await assign(service, "请各单位组织检查。\n期限：2026年2月25日\n要求：每周报送进展。\n", to=("finance", "edu"))
    found = await tasks(service)
    assert [(t["unit"], t["deadline"], t["status"], t["owner"]) for t in found] == [
        ("finance", "2026-02-25", "open", CLERK), ("edu", "2026-02-25", "open", CLERK)]
    assert found[0]["title"] == "年底前完成校舍安全检查" and found[0]["requirements"] == "每周报送进展。"
    assert found[0]["overdue"] is False and found[0]["closed_at"] is None
    for member in FINANCE:
        notice = await next_mail(relay, member)
        assert notice["Subject"] == "[督办] 年底前完成校舍安全检查（期限：2026-02-25）"
        assert str(notice["Reply-To"]).startswith("reply+t")
    assert (await next_mail(relay, CLERK))["Subject"] == "已交办：年底前完成校舍安全检查（2 个单位）"
    # The deadline shows in the members' calendar feeds as an all-day entry.
    from tests.calendar.test_feeds import events_in, fetch, url_of
    feed = events_in((await fetch(await url_of(service, "fin-staff@test.gov")))[2])
    entry = feed["督办到期：年底前完成校舍安全检查"]
    assert entry.decoded("DTSTART") == date(2026, 2, 25)


async def test_progress_then_done_tells_the_owner(service: Service, relay: CaptureRelay) -> None:
    await assign(service, "期限：2026-02-25\n")
    notice = await next_mail(relay, "fin-staff@test.gov")
    await answer(service, notice, "fin-staff@test.gov", "进展：已检查三所学校。\n其余本周内完成。")
    [task] = await tasks(service)
    assert task["status"] == "in_progress"
    assert [(p["by"], p["text"], p["kind"]) for p in task["progress"]] == [
        ("fin-staff@test.gov", "已检查三所学校。\n其余本周内完成。", "progress")]
    await answer(service, notice, "fin-staff@test.gov", "办结：全部检查完毕，整改三处。")
    [task] = await tasks(service)
    assert task["status"] == "done" and task["closed_at"] is not None
    told = [m.message for m in relay.to(CLERK) if m.message["Subject"].startswith("[已办结]")]
    assert told and "全部检查完毕，整改三处。" in told[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_unclear_reply_and_wrong_person_change_nothing(service: Service, relay: CaptureRelay) -> None:
    await assign(service, "期限：2026-02-25\n")
    notice = await next_mail(relay, "fin-staff@test.gov")
    await answer(service, notice, "fin-staff@test.gov", "收到，马上安排")
    asked = await next_mail(relay, "fin-staff@test.gov", 2)
    assert asked["Subject"] == "请写明进展或办结：年底前完成校舍安全检查"
    await answer(service, notice, "fin-clerk@test.gov", "办结")  # someone else on fin-staff's address
    [task] = await tasks(service)
    assert task["status"] == "open" and task["progress"] == []


@pytest.mark.parametrize("decision, deadline, subject", [
    ("同意", "2026-03-06", "[同意延期] 年底前完成校舍安全检查"),
    ("不同意，请按期完成", "2026-02-25", "[不同意延期] 年底前完成校舍安全检查"),
])
async def test_extension_asked_then_granted_or_refused(service: Service, relay: CaptureRelay, decision: str,
                                                       deadline: str, subject: str) -> None:
    await assign(service, "期限：2026-02-25\n")
    notice = await next_mail(relay, "fin-clerk@test.gov")
    await answer(service, notice, "fin-clerk@test.gov", "申请延期 2026-03-06 原因：设备节后才到")
    await settled(service)
    request = next(m.message for m in relay.messages if m.rcpt == CLERK and
                   m.message["Subject"].startswith("[申请延期]"))
    assert "设备节后才到" in request.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [task] = await tasks(service)
    assert task["extension"] == {"to": "2026-03-06", "by": "fin-clerk@test.gov", "reason": "设备节后才到"}
    await answer(service, request, CLERK, decision)
    [task] = await tasks(service)
    assert task["deadline"] == deadline and task["extension"] is None
    told = await next_mail(relay, "fin-clerk@test.gov", 2)
    assert told["Subject"] == subject


@pytest.mark.parametrize(("envelope", "header_from", "to_reply_address"), [
    ("fin-clerk@test.gov", CLERK, True),  # the asker answers their own request in the owner's name
    (CLERK, CLERK, False),  # the owner's addresses, the token only in References (a forwarded copy)
])
async def test_only_the_owner_s_own_reply_decides_an_extension(service: Service, relay: CaptureRelay, envelope: str,
                                                               header_from: str, to_reply_address: bool) -> None:
    await assign(service, "期限：2026-02-25\n")
    notice = await next_mail(relay, "fin-clerk@test.gov")
    await answer(service, notice, "fin-clerk@test.gov", "申请延期 2026-03-06 原因：设备节后才到")
    await settled(service)
    request = next(m.message for m in relay.messages if m.rcpt == CLERK and
                   m.message["Subject"].startswith("[申请延期]"))
    rcpt = str(request["Reply-To"]) if to_reply_address else f"reply@{DOMAIN}"
    raw = reply(request, header_from, "同意", to=rcpt)
    assert (await smtp_send(service.smtp_port, envelope, [rcpt], raw)).startswith("250")
    [task] = await tasks(service)
    assert task["deadline"] == "2026-02-25" and task["extension"] is not None
    rows = await settled(service)
    assert rows[-1].status == "discarded" and (rows[-1].reason or "").startswith("reply to task ")
    await answer(service, request, CLERK, "同意")
    [task] = await tasks(service)
    assert task["deadline"] == "2026-03-06" and task["extension"] is None


async def test_an_unreadable_deadline_is_answered_naming_the_line(service: Service, relay: CaptureRelay) -> None:
    await assign(service, "期限：春节后\n")
    answered = await next_mail(relay, CLERK)
    assert answered["Subject"] == "未能读取期限：年底前完成校舍安全检查"
    assert "春节后" in answered.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert await tasks(service) == []


async def test_reminders_and_escalation_count_working_days_across_the_spring_festival(
        service: Service, relay: CaptureRelay, clock: FixedClock) -> None:
    await assign(service, "期限：2026-02-26\n")  # Thursday after the holiday
    await settled(service)
    assert service.scheduler is not None

    async def day(d: date) -> list[str]:
        """Run the scheduler on that day at 10:00; the subjects it sent to fin-staff and to leaders."""
        before = len(relay.messages)
        clock.at = at(d)
        await service.scheduler.run_once()  # type: ignore[union-attr]
        await settled(service)
        return [f"{m.rcpt}: {m.message['Subject']}" for m in relay.messages[before:]
                if m.rcpt in ("fin-staff@test.gov", "boss@test.gov")]

    # Three working days before 26 Feb: 25, 24, then (over the holiday) Saturday 14 Feb.
    assert await day(date(2026, 2, 13)) == []
    assert await day(date(2026, 2, 14)) == [
        "fin-staff@test.gov: [督办提醒] 年底前完成校舍安全检查（3 个工作日后到期：2026-02-26）"]
    assert await day(date(2026, 2, 16)) == []  # holiday, and already reminded
    assert await day(date(2026, 2, 24)) == []
    assert await day(date(2026, 2, 25)) == [
        "fin-staff@test.gov: [督办提醒] 年底前完成校舍安全检查（1 个工作日后到期：2026-02-26）"]
    assert await day(date(2026, 2, 26)) == []  # due today, not overdue
    assert await day(date(2026, 2, 27)) == ["fin-staff@test.gov: [督办超期] 年底前完成校舍安全检查（期限 2026-02-26）"]
    assert await day(date(2026, 2, 27)) == []  # once a day
    # Saturday 28 Feb is a working day: overdue again, and 2 overdue working days escalate.
    assert sorted(await day(date(2026, 2, 28))) == [
        "boss@test.gov: [督办升级] 财政局：年底前完成校舍安全检查 已超期",
        "fin-staff@test.gov: [督办超期] 年底前完成校舍安全检查（期限 2026-02-26）"]
    assert await day(date(2026, 3, 1)) == []  # Sunday
    assert await day(date(2026, 3, 2)) == ["fin-staff@test.gov: [督办超期] 年底前完成校舍安全检查（期限 2026-02-26）"]
    [task] = await tasks(service)
    assert task["overdue"] is True


async def test_api_assigns_and_the_cli_lists_overdue_first(service: Service, relay: CaptureRelay,
                                                           clock: FixedClock, tmp_path: Any) -> None:
    import asyncio
    import sys

    import aiohttp

    url = f"http://127.0.0.1:{service.web_port}/api/v1/tasks"
    headers = {"Authorization": "Bearer static-test-token"}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, headers=headers, json={"title": "春运安全", "owner": CLERK, "to": ["edu"],
                                                          "deadline": "2026-02-10"}) as response:
            assert response.status == 201
            [created] = (await response.json())["items"]
        async with http.post(url, headers=headers, json={"title": "x", "owner": CLERK, "to": ["nowhere"],
                                                          "deadline": "2026-02-10"}) as response:
            assert (response.status, (await response.json())["error"]) == (400, "to: unknown unit nowhere")
    assert created["unit"] == "edu" and created["status"] == "open"
    await assign(service, "期限：2026-03-20\n", subject="[督办] 春季植树")
    await settled(service)
    clock.at = at(date(2026, 2, 12))
    overdue = (await api(service, "/api/v1/tasks?overdue=true"))["items"]
    assert [t["title"] for t in overdue] == ["春运安全"]  # the API uses the service's clock …
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inkless", "task", "list", "-c", str(tmp_path / "config.yaml"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    rows = [line for line in out.decode().splitlines() if "春" in line]
    # … the CLI the real date (November 2026): both deadlines are past, earliest first.
    assert "春运安全" in rows[0] and "overdue" in rows[0] and "春季植树" in rows[1]
