"""Headless Chromium (Debian `chromium`) signs in through the mailed link and reads the tracking page.

Chromium is driven over the DevTools protocol (a WebSocket), so the test uses the real
browser with nothing downloaded: navigate, fill and submit forms, read the DOM, screenshot.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from inkless.bridge.app import Service
from tests.conftest import (
    DOMAIN,
    CaptureRelay,
    free_port,
    simple_mail,
    smtp_send,
    wait_for,
)

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
                  "--window-size=1280,900"]
SCREENSHOTS = Path(tempfile.gettempdir()) / "inkless-screenshots"


class Page:
    """One browser tab, spoken to with DevTools protocol commands."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        command_id = next(self._ids)
        await self._socket.send_json({"id": command_id, "method": method, "params": params})
        while True:
            message = json.loads((await self._socket.receive(timeout=30)).data)
            if message.get("id") == command_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]  # type: ignore[no-any-return]

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.loaded()

    async def loaded(self, path: str | None = None) -> None:
        async def ready() -> bool:
            try:
                state = await self.evaluate("[document.readyState, location.pathname]")
            except RuntimeError:
                return False
            return bool(state) and state[0] == "complete" and (path is None or state[1] == path)

        await wait_for(ready, timeout=30, what=f"page {path or ''} loaded")

    async def submit(self, expression: str, then: str) -> None:
        await self.evaluate(expression)
        await self.loaded(then)

    async def screenshot(self, path: Path) -> bytes:
        metrics = await self.send("Page.getLayoutMetrics")
        size = metrics["cssContentSize"]
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                               clip={"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000),
                                     "scale": 1})
        data = base64.b64decode(shot["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is needed: `make test` installs it"
    port = free_port()
    process = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--remote-debugging-port={port}",
                                f"--user-data-dir={tmp_path / 'profile'}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as http:
            async def targets() -> list[dict[str, Any]] | None:
                try:
                    response = await http.get(f"http://127.0.0.1:{port}/json/list")
                    found = [t for t in await response.json() if t.get("type") == "page"]
                    return found or None
                except aiohttp.ClientError:
                    return None

            await wait_for(targets, timeout=30, what="chromium's DevTools endpoint")
            target = (await targets() or [])[0]
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as socket:
                tab = Page(socket)
                await tab.send("Page.enable")
                yield tab
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def big_org() -> dict[str, Any]:
    staff = [{"email": f"staff{n:03d}@test.gov", "name": f"职员{n:03d}"} for n in range(300)]
    return {"units": [
        {"id": "office", "name": "县政府办公室", "doc_prefix": "延政办发", "members": [
            {"email": "clerk@test.gov", "name": "王文书", "roles": ["clerk"]},
            {"email": "boss@test.gov", "name": "李县长", "roles": ["leader"]}]},
        {"id": "towns", "name": "各乡镇", "parent": "office", "members": staff},
    ]}


async def test_chromium_signs_in_by_mailed_link_and_sees_the_tracking_table(
        make_service, relay: CaptureRelay, page: Page) -> None:  # type: ignore[no-untyped-def]
    for n in (7, 70, 170):
        relay.refuse[f"staff{n:03d}@test.gov"] = "550 5.1.1 mailbox unavailable"
    service: Service = await make_service(relay, org=big_org(), smtp={"max_recipients": 5})
    raw = simple_mail("clerk@test.gov", f"towns@{DOMAIN}", "[通知] 关于做好冬季防火工作的通知", "各乡镇：请做好防火。")
    assert (await smtp_send(service.smtp_port, "clerk@test.gov", [f"towns@{DOMAIN}"], raw)).startswith("250")
    await wait_for(lambda: len(relay.messages) == 297 + 1, timeout=60, what="297 copies and the notice")
    web = f"http://127.0.0.1:{service.web_port}"

    async with aiohttp.ClientSession() as http:
        async def document() -> dict[str, Any]:
            response = await http.get(f"{web}/api/v1/documents/1", headers={"Authorization": "Bearer static-test-token"})
            return await response.json()  # type: ignore[no-any-return]

        async def settled() -> bool:
            return all(r["sent_at"] or r["failed"] for r in (await document())["recipients"])

        await wait_for(settled, timeout=60, what="every copy sent or failed")
        api = await document()

    await page.goto(f"{web}/documents/1")
    assert await page.evaluate("location.pathname") == "/signin"  # not signed in yet
    await page.submit("document.querySelector('input[name=email]').value = 'boss@test.gov';"
                      "document.querySelector('form[action=\"/signin\"]').submit()", then="/signin")
    await wait_for(lambda: len(relay.to("boss@test.gov")) == 1, what="the sign-in mail")
    mail = relay.to("boss@test.gov")[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://inkless.test(/signin/\S+)", mail)
    assert link
    await page.goto(web + link.group(1))
    await page.submit("document.getElementById('confirm').submit()", then="/documents/1")

    counts = await page.evaluate(
        "Object.fromEntries(['sent','delivered','read','acknowledged','failed'].map("
        "s => [s, Number(document.getElementById('count-' + s).textContent)]))")
    rows = await page.evaluate("document.querySelectorAll('#recipients tbody tr').length")
    recipients = api["recipients"]
    assert rows == len(recipients) == 300
    assert counts == {
        "sent": sum(1 for r in recipients if r["sent_at"]),
        "delivered": sum(1 for r in recipients if r["delivered_at"]),
        "read": sum(1 for r in recipients if r["read_at"]),
        "acknowledged": sum(1 for r in recipients if r["acknowledged_at"]),
        "failed": sum(1 for r in recipients if r["failed"]),
    }
    assert (counts["sent"], counts["failed"]) == (297, 3)
    # Styled under the page's Content-Security-Policy: one stylesheet, no inline style or script.
    assert await page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor") == \
        "rgb(139, 26, 26)"
    assert await page.evaluate("document.querySelector('#count-sent').closest('tr').querySelector('svg.bar rect')"
                               ".getBBox().width") == 99
    image = await page.screenshot(SCREENSHOTS / "tracking-300.png")
    assert image.startswith(b"\x89PNG") and len(image) > 50_000

    # The link works once: a second confirmation lands on the "invalid or used" page.
    await page.goto(web + link.group(1))
    await page.evaluate("document.getElementById('confirm').submit()")
    # The answer comes on the same path: wait for its message, not for the path.
    message_js = "document.getElementById('message') ? document.getElementById('message').textContent : ''"

    async def answered() -> bool:
        try:
            return bool(await page.evaluate(message_js))
        except RuntimeError:
            return False

    await wait_for(answered, timeout=30, what="the answer to the second confirmation")
    assert "已使用或已过期" in await page.evaluate(message_js)
