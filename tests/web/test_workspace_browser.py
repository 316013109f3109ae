"""Headless Chromium in the workspace (SPEC §3): `/` signed out is the sign-in page, a mailed
link with no `next` lands on the desk; screenshots of `/documents` (wide and 390 px), a
search, the GB/T 9704 print view and the public catalogue, with realistic data."""

from __future__ import annotations

from typing import Any

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from tests.conftest import CaptureRelay, api, settled, wait_for
from tests.handlers.test_hierarchy import answer
from tests.web.test_browser import SCREENSHOTS, Page, page
from tests.web.test_desk_browser import signin_link
from tests.web.test_documents import NOW, county_documents, issued_request, send

__all__ = ["page"]


async def test_chromium_finds_reads_and_prints_documents(make_service: Any, relay: CaptureRelay, page: Page) -> None:
    service: Service = await make_service(relay, clock=FixedClock(NOW))
    await county_documents(service)
    await issued_request(service, relay)
    await send(service, "fin-clerk@test.gov", "edu", "[公开][通告] 关于2027年元旦放假安排的通告",
               "根据国务院办公厅通知，2027年元旦放假1天。\n")
    await settled(service)
    held = [m.message for m in relay.to("boss@test.gov") if "待确认公开" in str(m.message["Subject"])][-1]
    await answer(service, held, "boss@test.gov", "同意")
    await settled(service)
    web = f"http://127.0.0.1:{service.web_port}"

    # Signed out, "/" is the sign-in page; a link asked for there, with no `next`, lands on the desk.
    await page.goto(f"{web}/")
    assert await page.evaluate("location.pathname") == "/signin"
    before = len(relay.to("edu-clerk@test.gov"))
    await page.submit("document.querySelector('input[name=email]').value = 'edu-clerk@test.gov';"
                      "document.querySelector('form[action=\"/signin\"]').submit()", then="/signin")
    link = await signin_link(relay, "edu-clerk@test.gov", before)
    await page.goto(web + link)
    await page.submit("document.getElementById('confirm-button').click()", then="/desk")

    await page.goto(f"{web}/documents?box=received")
    titles = await page.evaluate("[...document.querySelectorAll('#results article h3 a')].map(a => a.textContent)")
    # What edu received; the 请示 to the county office is not among them (though issued, it is
    # under 全部, with every issued document a member may read).
    assert sorted(titles) == sorted(["关于做好年度工作总结的通知", "关于报送有关材料的通知", "关于2027年元旦放假安排的通告"])
    shots = {"documents": await page.screenshot(SCREENSHOTS / "documents.png")}
    await page.evaluate("document.getElementById('q').value = '决算'; document.querySelector('form.search').submit()")

    async def searched() -> bool:
        # The search answers on /documents too: wait for the page whose URL carries the query.
        try:
            state = await page.evaluate("[document.readyState, location.search]")
        except RuntimeError:
            return False
        return bool(state) and state[0] == "complete" and "q=" in state[1]

    await wait_for(searched, timeout=30, what="the search's answer")
    found = await page.evaluate("[...document.querySelectorAll('#results article h3 a')].map(a => a.textContent)")
    assert found == ["关于做好年度工作总结的通知"]  # received, and with 决算 in its text; not the draft
    shots["search"] = await page.screenshot(SCREENSHOTS / "documents-search.png")

    items = (await api(service, "/api/v1/documents?q=补贴资金"))["items"]
    await page.goto(f"{web}/documents/{items[0]['id']}/print")
    assert await page.evaluate("document.getElementById('organ').textContent") == "审批局文件"
    assert await page.evaluate("getComputedStyle(document.getElementById('organ')).color") == "rgb(204, 0, 0)"
    shots["print"] = await page.screenshot(SCREENSHOTS / "print.png")
    await page.goto(f"{web}/public")
    assert "关于2027年元旦放假安排的通告" in await page.evaluate("document.getElementById('public').textContent")
    shots["public"] = await page.screenshot(SCREENSHOTS / "public.png")

    # On a phone the list reflows with nothing wider than the screen.
    await page.send("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True)
    await page.goto(f"{web}/documents")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    shots["phone"] = await page.screenshot(SCREENSHOTS / "documents-phone.png")
    await page.goto(f"{web}/documents/{items[0]['id']}/print")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    for name, image in shots.items():
        assert image.startswith(b"\x89PNG") and len(image) > 20_000, name
