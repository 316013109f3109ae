"""The county's cascade on the web (SPEC §2.8, §3): the tracking page lists the units first
and draws the forwarding tree, checked in headless Chromium with a screenshot; a receiver's
desk shows what their unit still has to sign for and forwards it with a button."""

from __future__ import annotations

import re
from typing import Any

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from tests.conftest import CaptureRelay, api, settled
from tests.handlers.test_hierarchy import (
    COUNTY_ORG,
    MONDAY,
    all_documents,
    copies_of,
    county_cascade,
    send,
)
from tests.web.test_browser import SCREENSHOTS, Page, page
from tests.web.test_desk_browser import signin_link
from tests.web.test_pages import base, browser, confirm, csrf, sign_in

__all__ = ["page"]


async def test_chromium_shows_the_county_which_towns_and_villages_signed(
        make_service: Any, relay: CaptureRelay, page: Page) -> None:
    clock = FixedClock(MONDAY)
    service: Service = await make_service(relay, clock=clock, org=COUNTY_ORG)
    notice_id, child_id = await county_cascade(service, relay, clock)
    web = f"http://127.0.0.1:{service.web_port}"

    await page.goto(f"{web}/documents/{notice_id}")
    before = len(relay.to("county-clerk@test.gov"))
    await page.submit("document.querySelector('input[name=email]').value = 'county-clerk@test.gov';"
                      "document.querySelector('form[action=\"/signin\"]').submit()", then="/signin")
    link = await signin_link(relay, "county-clerk@test.gov", before)
    await page.goto(web + link)
    await page.submit("document.getElementById('confirm-button').click()", then=f"/documents/{notice_id}")

    # Units first: two of the three towns signed for it, one forwarded it.
    assert await page.evaluate("document.getElementById('units-signed').textContent") == "2/3 个单位已签收"
    rows = await page.evaluate("[...document.querySelectorAll('#units tbody tr')].map(r => "
                               "[...r.cells].map(c => c.textContent.trim()))")
    assert rows == [["城关镇", "主送", "2026-11-30 10:30", "城关收文员", "城政发〔2026〕1号"],
                    ["永宁镇", "主送", "2026-11-30 11:30", "永宁收文员", ""],
                    ["康庄镇", "抄送", "未签收", "", ""]]
    # The cascade: county → towns → villages, the silent town marked.
    levels = await page.evaluate(
        "[...document.querySelectorAll('#cascade li[data-document]')].map(li => [li.dataset.document, "
        "li.querySelector('.signed-count').textContent, "
        "[...li.querySelector('ul.units').children].map(u => [u.dataset.unit, u.className])])")
    assert levels == [
        [str(notice_id), "2/3 个单位已签收", [["town-a", "signed"], ["town-b", "signed"], ["town-c", "stalled"]]],
        [str(child_id), "2/2 个单位已签收", [["village-1", "signed"], ["village-2", "signed"]]]]
    villages = await page.evaluate(f"document.querySelector('li[data-document=\"{child_id}\"] ul.units').textContent")
    assert "东关村：✓ 2026-11-30 13:00 东关村文书" in villages
    stalled = await page.evaluate("getComputedStyle(document.querySelector('li.stalled')).color")
    assert stalled == "rgb(207, 34, 46)"
    image = await page.screenshot(SCREENSHOTS / "cascade.png")
    assert image.startswith(b"\x89PNG") and len(image) > 30_000

    # The village's forward page shows where it came from.
    await page.goto(f"{web}/documents/{child_id}")
    assert await page.evaluate(f"!!document.querySelector('a[href=\"/documents/{notice_id}\"]')")


async def test_a_receiver_signs_for_and_forwards_from_the_desk(make_service: Any, relay: CaptureRelay) -> None:
    service: Service = await make_service(relay, clock=FixedClock(MONDAY), org=COUNTY_ORG)
    assert (await send(service, "county-clerk@test.gov", "[通知] 关于做好冬季取暖安全的通知",
                       to=["town-a", "town-b"])).startswith("250")
    await settled(service)
    [notice] = await all_documents(service)
    async with browser() as http:
        await confirm(service, http, await sign_in(service, relay, http, "ta-receiver@test.gov"))
        desk = await (await http.get(f"{base(service)}/desk")).text()
        assert f'id="unit-document-{notice.id}"' in desk and f'id="forward-{notice.id}"' in desk
        own = re.search(r'action="/desk/forward/(\d+)"', desk)
        assert own
        # Someone else's copy is not theirs to forward.
        theirs = (await copies_of(service, notice.id))["tb-receiver@test.gov"].id
        response = await http.post(f"{base(service)}/desk/forward/{theirs}", data={"csrf_token": csrf(desk)})
        assert response.status == 404
        # A unit that is not below: refused on the page, nothing made.
        refused = await http.post(f"{base(service)}/desk/forward/{own.group(1)}",
                                  data={"csrf_token": csrf(desk), "units": "永宁镇"})
        assert refused.status == 200 and 'id="forward-refused"' in await refused.text()
        assert len(await all_documents(service)) == 1
        done = await http.post(f"{base(service)}/desk/forward/{own.group(1)}",
                               data={"csrf_token": csrf(desk), "units": "东关村", "instructions": "请东关村落实。"},
                               allow_redirects=False)
        assert done.status == 303 and done.headers["Location"] == "/desk?done=forwarded#unit-documents"
        desk = await (await http.get(f"{base(service)}/desk")).text()
        assert f'id="unit-document-{notice.id}"' not in desk  # signed for by forwarding it
    child = (await all_documents(service))[-1]
    assert (child.parent_id, child.addressed_to, child.status) == (notice.id, "village-1", "pending_approval")
    [unit, _] = (await api(service, f"/api/v1/documents/{notice.id}"))["units"]
    assert (unit["unit"], unit["by"]) == ("town-a", "ta-receiver@test.gov")
