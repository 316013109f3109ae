"""Headless Chromium on my desk: sign in through the mailed link, approve a document with the
desk's button, see the next approver asked; screenshots of the desk (wide and phone-sized) and
of the task board with realistic data."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

import aiohttp

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from tests.conftest import (
    DOMAIN,
    CaptureRelay,
    api,
    settled,
    simple_mail,
    smtp_send,
    wait_for,
)
from tests.web.test_browser import SCREENSHOTS, Page, page
from tests.web.test_desk import add_task

__all__ = ["page"]

# Wednesday 2 December 2026, 10:00 in Shanghai.
NOW = datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc)
SIGNER, CHIEF = "signer@test.gov", "chief@test.gov"
LINKS = [{"title": "县政府门户网站", "url": "https://www.example.gov.cn/"},
         {"title": "政务服务网", "url": "https://zwfw.example.gov.cn/"},
         {"title": "内部通讯录", "url": "https://oa.example.gov.cn/phonebook"}]


async def send(service: Service, sender: str, unit: str, subject: str, body: str) -> None:
    raw = simple_mail(sender, f"{unit}@{DOMAIN}", subject, body)
    assert (await smtp_send(service.smtp_port, sender, [f"{unit}@{DOMAIN}"], raw)).startswith("250")


async def county_day(service: Service) -> None:
    """A working Wednesday in the county: requests for sign-off, notices, meetings, tasks, messages."""
    await send(service, "signed-clerk@test.gov", "edu", "[请示] 关于申请2027年度政务服务专项经费的请示",
               "县政府：\n为推进“一网通办”，拟申请专项经费48万元，主要用于窗口改造和系统对接。妥否，请批示。\n")
    await send(service, "signed-clerk@test.gov", "finance", "[请示] 关于调整行政审批窗口工作时间的请示",
               "县政府：\n为方便群众办事，拟自2027年1月1日起实行午间不打烊服务。妥否，请批示。\n")
    for subject in ("[通知] 关于做好2027年元旦春节期间安全生产工作的通知",
                    "[通报] 关于2026年度政务公开工作考核情况的通报",
                    "[函] 关于商请提供重点项目审批数据的函"):
        await send(service, "clerk@test.gov", "signed", subject, "各单位：\n请认真贯彻落实。\n")
    await send(service, "clerk@test.gov", "signed", "[会议] 全县营商环境优化工作推进会",
               "时间：2026年12月2日 15:00-17:00\n地点：县政府三楼第一会议室\n要求：请主要负责同志参加。\n")
    await send(service, "clerk@test.gov", "signed", "[会议] 审批服务窗口业务培训",
               "时间：2026年12月4日 9:00-11:30\n地点：县政务服务中心二楼培训室\n")
    await add_task(service, "signed", "优化工程建设项目审批流程，压缩审批时限", date(2026, 11, 28),
                   status="in_progress", progress=(("已完成流程梳理，正在征求住建部门意见", "signed-clerk@test.gov"),))
    await add_task(service, "signed", "编制政务服务事项“一网通办”清单", date(2026, 12, 15), status="in_progress",
                   progress=(("已完成80%事项梳理", "signed-staff@test.gov"),))
    await add_task(service, "finance", "清理拖欠中小企业账款", date(2026, 12, 10),
                   progress=(("已排查12家单位", "fin-clerk@test.gov"),))
    await add_task(service, "edu", "中小学校舍安全隐患排查整治", date(2026, 11, 30), owner="clerk@test.gov")
    await add_task(service, "edu", "秋季学期学生资助资金发放", date(2026, 11, 20), status="done",
                   progress=(("资金已全部发放到位", "edu-clerk@test.gov"),))
    async with aiohttp.ClientSession() as http:
        for text in ("明天上午9点召开县政府常务会议，请审批局主要负责同志参加。",
                     "请于12月5日前报送本单位2026年度工作总结。"):
            response = await http.post(f"http://127.0.0.1:{service.web_port}/api/v1/messages",
                                       headers={"Authorization": "Bearer static-test-token"},
                                       json={"from": "clerk@test.gov", "to": ["signed"], "text": text})
            assert response.status == 202
    await settled(service)


async def signin_link(relay: CaptureRelay, email: str, before: int) -> str:
    def link() -> str | None:
        for captured in relay.to(email)[before:]:
            body = captured.message.get_body(("plain",))
            found = re.search(r"http://inkless.test(/signin/\S+)", body.get_content() if body else "")
            if found:
                return found.group(1)
        return None

    await wait_for(lambda: link() is not None, what="the sign-in mail")
    return link() or ""


async def arrived(tab: Page, search: str) -> None:
    """Wait until the tab shows /desk with this query (the answer to a form on /desk itself)."""
    async def there() -> bool:
        try:
            state = await tab.evaluate("[document.readyState, location.pathname + location.search]")
        except RuntimeError:
            return False
        return bool(state) and state == ["complete", f"/desk{search}"]

    await wait_for(there, timeout=30, what=f"/desk{search}")


async def test_chromium_approves_from_the_desk(make_service: Any, relay: CaptureRelay, page: Page) -> None:
    service: Service = await make_service(relay, clock=FixedClock(NOW), desk={"links": LINKS})
    await county_day(service)
    web = f"http://127.0.0.1:{service.web_port}"
    documents = {d["title"]: d for d in (await api(service, "/api/v1/documents"))["items"]}
    document_id = documents["关于申请2027年度政务服务专项经费的请示"]["id"]

    await page.goto(f"{web}/desk")
    assert await page.evaluate("location.pathname + location.search") == "/signin?next=/desk"
    before = len(relay.to(SIGNER))
    await page.submit(f"document.querySelector('input[name=email]').value = '{SIGNER}';"
                      "document.querySelector('form[action=\"/signin\"]').submit()", then="/signin")
    link = await signin_link(relay, SIGNER, before)
    await page.goto(web + link)
    await page.submit("document.getElementById('confirm-button').click()", then="/desk")

    titles = await page.evaluate("[...document.querySelectorAll('#approvals article h3')].map(h => h.textContent)")
    assert titles == ["关于申请2027年度政务服务专项经费的请示", "关于调整行政审批窗口工作时间的请示"]
    assert await page.evaluate("document.querySelectorAll('#documents article').length") == 3
    assert await page.evaluate("document.querySelector('#schedule article h3').textContent") == "全县营商环境优化工作推进会"
    tasks = await page.evaluate("[...document.querySelectorAll('#tasks article')].map(a => a.textContent)")
    assert len(tasks) == 2 and "已超期" in tasks[0] and "已超期" not in tasks[1]

    # Click 同意 on the first document, as the approver would.
    before = len(relay.to(CHIEF))
    await page.evaluate("document.querySelector('#approvals article button.primary').click()")
    await arrived(page, "?done=approved")
    assert "已同意" in await page.evaluate("document.getElementById('notice').textContent")
    await wait_for(lambda: len(relay.to(CHIEF)) == before + 1, what="the next approver's request")
    asked = relay.to(CHIEF)[before].message
    assert "关于申请2027年度政务服务专项经费的请示" in str(asked["Subject"])
    assert str(asked["Reply-To"]).startswith("reply+")  # the request to reply 同意 / 不同意
    [first, second] = (await api(service, f"/api/v1/documents/{document_id}"))["approvals"]
    assert (first["approver"], first["decision"], first["channel"]) == (SIGNER, "approve", "web")
    assert (second["approver"], second["decision"]) == (CHIEF, None)
    remaining = await page.evaluate("[...document.querySelectorAll('#approvals article h3')].map(h => h.textContent)")
    assert remaining == ["关于调整行政审批窗口工作时间的请示"]
    image = await page.screenshot(SCREENSHOTS / "desk.png")
    assert image.startswith(b"\x89PNG") and len(image) > 50_000

    await page.goto(f"{web}/tasks")
    states = await page.evaluate("[...document.querySelectorAll('#unit-signed [data-state]')].map(s => s.dataset.state)")
    assert states == ["overdue", "in_progress"]
    image = await page.screenshot(SCREENSHOTS / "tasks.png")
    assert image.startswith(b"\x89PNG") and len(image) > 50_000

    # On a phone the desk reflows into one column, with nothing wider than the screen.
    await page.send("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True)
    await page.goto(f"{web}/desk")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.screenshot(SCREENSHOTS / "desk-phone.png")
