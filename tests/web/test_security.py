"""Web security over real HTTP (SPEC §3 "Web security", issue 15 items 3 and 6): compressed
request bodies, where `next` may lead, sign-in limits and equal answers, login CSRF,
sign-out on the server, and the security headers."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
import zlib
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from inkless.web.auth import safe_next
from tests.conftest import CaptureRelay, wait_for
from tests.web.test_pages import base, browser, confirm, csrf, sign_in


def gzip_bomb(inflated: int) -> bytes:
    """A gzip body of `inflated` zero bytes (about a thousandth of that on the wire)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    body = b"".join(packer.compress(chunk) for _ in range(inflated >> 20))
    return body + packer.flush()


def cpu_to_inflate(body: bytes) -> float:
    """The CPU seconds it takes to inflate a gzip body (and drop what comes out)."""
    started = time.process_time()
    inflater = zlib.decompressobj(31)
    while body:
        inflater.decompress(body, 1 << 20)
        body = inflater.unconsumed_tail
    return time.process_time() - started


async def test_compressed_request_bodies_are_refused_unread(service: Service) -> None:
    bomb = gzip_bomb(512 << 20)
    assert len(bomb) < 1 << 20
    paths = [("POST", "/api/v1/messages", {}), ("POST", "/api/v1/messages", {"Authorization": "Bearer static-test-token"}),
             ("PATCH", "/api/v1/events/1", {"Authorization": "Bearer static-test-token"}),
             ("POST", "/signin", {}), ("POST", "/telegram/webhook/x", {}), ("POST", "/no/such/page", {})]
    # What the service would spend inflating them, measured here and now (not a fixed figure:
    # it depends on the machine and on what else runs).
    inflating = cpu_to_inflate(bomb) * len(paths)

    async def refuse_all() -> float:
        cpu = time.process_time()
        async with aiohttp.ClientSession() as http:
            async def send(method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
                async with http.request(method, base(service) + path, data=bomb, headers={
                        **headers, "Content-Encoding": "gzip", "Content-Type": "application/json"}) as response:
                    return response.status, await response.text()

            answers = await asyncio.gather(*(send(*request) for request in paths))
            # Keep the connections open a while, as an attacker would: nothing is inflated meanwhile either.
            await asyncio.sleep(1)
        for (method, path, _), (status, text) in zip(paths, answers):
            assert status == 415 and "Content-Encoding" in text, (method, path, status, text)
        return time.process_time() - cpu

    # The process's CPU counts every thread in it: up to three rounds, so that a burst of other
    # work (another test's leftovers, a collection) is not taken for inflating. Inflating costs
    # the same every round.
    used: list[float] = []
    while len(used) < 3 and min(used, default=inflating) >= inflating / 2:
        used.append(await refuse_all())
    assert min(used) < inflating / 2, f"{used} s of CPU for {len(paths)} refused requests; inflating: {inflating:.2f} s"
    async with aiohttp.ClientSession() as http:
        # An uncompressed body still works, and `identity` is no encoding.
        response = await http.post(f"{base(service)}/api/v1/messages", json={"from": "clerk@test.gov", "to": ["edu"],
                                   "text": "正常"}, headers={"Authorization": "Bearer static-test-token",
                                                            "Content-Encoding": "identity"})
        assert response.status == 202, await response.text()


@pytest.mark.parametrize(("raw", "expected"), [
    ("/documents/12?show=failed", "/documents/12?show=failed"),
    ("/desk", "/desk"),
    ("/documents?q=决算", "/documents?q=%E5%86%B3%E7%AE%97"),
    ("/\t/evil.example", "/"),
    ("/\n/evil.example", "/"),
    ("/\r/evil.example", "/"),
    ("/ /evil.example", "/"),
    ("//evil.example", "/"),
    ("///evil.example", "/"),
    ("/\\evil.example", "/"),
    ("/\\/evil.example", "/"),
    ("/x//evil.example", "/"),
    ("https://evil.example/", "/"),
    ("javascript:alert(1)", "/"),
    ("evil.example", "/"),
    ("\t//evil.example", "/"),
    ("/\x00x", "/"),
    ("/\x7fx", "/"),
    ("", "/"),
    (None, "/"),
])
def test_next_is_a_path_on_this_site_or_nothing(raw: str | None, expected: str) -> None:
    assert safe_next(raw) == expected


async def test_next_with_a_tab_does_not_leave_the_site_after_sign_in(service: Service, relay: CaptureRelay) -> None:
    """The reported attack: the form's `next` is "/\\t/evil" (browsers drop the tab: "//evil");
    the victim confirms a genuine link and must stay on this site."""
    for email, next_path in (("edu-staff@test.gov", "/\t/evil.example"), ("fin-staff@test.gov", "/\\evil.example"),
                             ("edu-clerk@test.gov", "/\n/evil.example"), ("fin-clerk@test.gov", "/desk")):
        async with browser() as http:
            form = await (await http.get(f"{base(service)}/signin")).text()
            before = len(relay.to(email))
            response = await http.post(f"{base(service)}/signin", data={
                "email": email, "next": next_path, "csrf_token": csrf(form)})
            assert response.status == 200
            await wait_for(lambda email=email, before=before: len(relay.to(email)) > before, what="the sign-in mail")
            text = relay.to(email)[-1].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            link = re.search(r"http://inkless.test(/signin/\S+)", text)
            assert link
            response = await confirm(service, http, link.group(1))
            assert response.status == 303
            assert response.headers["Location"] == "/desk", next_path  # refused `next`: the desk


def sent(relay: CaptureRelay, email: str) -> int:
    return len(relay.to(email))


async def ask_for_links(service: Service, http: aiohttp.ClientSession, emails: list[str], *,
                        client: str = "198.51.100.1") -> list[int]:
    """POST the sign-in form once per address, from `client` (named by a proxy on this host)."""
    form = await (await http.get(f"{base(service)}/signin")).text()
    statuses = []
    for email in emails:
        response = await http.post(f"{base(service)}/signin", data={"email": email, "csrf_token": csrf(form)},
                                   headers={"X-Forwarded-For": f"203.0.113.9, {client}"})
        statuses.append(response.status)
    return statuses


async def test_sign_in_mails_are_limited_per_address_and_per_client(make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    clock = FixedClock(datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc))
    service = await make_service(relay, clock=clock)
    member = "edu-staff@test.gov"
    async with browser() as http:
        # Mail bombing a member: seven requests, from seven clients, give five mails an hour.
        for n in range(7):
            assert await ask_for_links(service, http, [member], client=f"198.51.100.{n + 10}") == [200]
        await wait_for(lambda: sent(relay, member) == 5, what="five sign-in mails")
        await asyncio.sleep(0.5)
        assert sent(relay, member) == 5
        clock.at += timedelta(minutes=61)
        assert await ask_for_links(service, http, [member]) == [200]
        await wait_for(lambda: sent(relay, member) == 6, what="a mail in the next hour")

        # One client asking for many addresses is stopped, with 429; another client is not.
        strangers = [f"nobody{n}@else.example" for n in range(40)]
        statuses = await ask_for_links(service, http, strangers, client="198.51.100.200")
        assert statuses[:30] == [200] * 30 and set(statuses[30:]) == {429}
        page = await http.post(f"{base(service)}/signin", data={"email": "x@else.example", "csrf_token": csrf(
            await (await http.get(f"{base(service)}/signin")).text())}, headers={"X-Forwarded-For": "198.51.100.200"})
        assert page.status == 429 and "Retry-After" in page.headers and "分钟后再试" in await page.text()
        assert await ask_for_links(service, http, ["fin-staff@test.gov"], client="198.51.100.201") == [200]
        await wait_for(lambda: sent(relay, "fin-staff@test.gov") == 1, what="the other client's mail")


async def curl_signin(service: Service, browser_cookie: str | None, token: str, email: str) -> tuple[int, float, str]:
    """POST the sign-in form with curl, another process, as an outside client would: the status,
    the seconds from the connection being open to the whole answer, and the body."""
    cookie = ["-b", f"inkless_signin={browser_cookie}"] if browser_cookie else []
    process = await asyncio.create_subprocess_exec(
        "curl", "-s", *cookie, "--data-urlencode", f"email={email}", "--data-urlencode", f"csrf_token={token}",
        "-w", "\n%{http_code} %{time_connect} %{time_total}", f"{base(service)}/signin", stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    body, _, timing = out.decode().rpartition("\n")
    status, connected, done = timing.split()
    return int(status), float(done) - float(connected), body


async def test_members_and_strangers_get_the_same_answer_in_the_same_time(service: Service,
                                                                         relay: CaptureRelay) -> None:
    members = ["edu-staff@test.gov", "fin-staff@test.gov", "edu-clerk@test.gov", "fin-clerk@test.gov",
               "signed-staff@test.gov", "boss@test.gov"] * 2
    strangers = [f"someone{n}@else.example" for n in range(len(members))]
    times: dict[str, list[float]] = {"member": [], "stranger": []}
    answers: dict[str, set[str]] = {"member": set(), "stranger": set()}
    async with browser() as http:
        token = csrf(await (await http.get(f"{base(service)}/signin")).text())
        cookie = next((c.value for c in http.cookie_jar if c.key == "inkless_signin"), None)
    for n, (member, stranger) in enumerate(zip(members, strangers)):
        for kind, email in (("member", member), ("stranger", stranger))[::1 if n % 2 else -1]:
            before = sent(relay, email)
            status, seconds, body = await curl_signin(service, cookie, token, email)
            assert status == 200
            times[kind].append(seconds)
            answers[kind].add(body)
            if kind == "member":  # the link is mailed after the answer; the next request waits for that
                await wait_for(lambda email=email, before=before: sent(relay, email) == before + 1,
                               what=f"the mail to {email}")
            await asyncio.sleep(0.2)
    assert answers["member"] == answers["stranger"] and len(answers["member"]) == 1
    member, stranger = statistics.median(times["member"]), statistics.median(times["stranger"])
    assert abs(member - stranger) < max(0.004, 0.5 * min(member, stranger)), (member, stranger)


async def test_sign_in_forms_posted_from_another_site_are_refused(service: Service, relay: CaptureRelay) -> None:
    """Login CSRF: an attacker's page cannot post the sign-in forms in the victim's browser,
    neither to ask for a link nor to sign the victim in with the attacker's own link."""
    async with browser() as attacker:
        token = csrf(await (await attacker.get(f"{base(service)}/signin")).text())
        link = await sign_in(service, relay, attacker, "edu-staff@test.gov")
        confirm_token = csrf(await (await attacker.get(base(service) + link)).text())
    async with browser() as victim:
        # A browser that never saw the form (the cross-site post carries no cookie of ours) …
        response = await victim.post(f"{base(service)}/signin", data={"email": "edu-staff@test.gov",
                                                                       "csrf_token": token})
        assert response.status == 403
        response = await victim.post(base(service) + link, data={"csrf_token": confirm_token}, allow_redirects=False)
        assert response.status == 403 and "inkless_session" not in response.cookies
        # … and one that saw it, with a token made for another browser.
        await victim.get(f"{base(service)}/signin")
        await victim.get(base(service) + link)
        response = await victim.post(base(service) + link, data={"csrf_token": confirm_token}, allow_redirects=False)
        assert response.status == 403 and "inkless_session" not in response.cookies
    # The link was not spent by the refused posts: its own browser still signs in with it.
    async with browser() as owner:
        assert (await confirm(service, owner, link)).status == 303


async def test_sign_out_ends_the_session_on_the_server(service: Service, relay: CaptureRelay) -> None:
    async with browser() as http:
        response = await confirm(service, http, await sign_in(service, relay, http, "edu-staff@test.gov"))
        stolen = response.cookies["inkless_session"].value
        assert response.headers["Location"] == "/desk"  # no `next` (or only "/"): the desk
        desk = await http.get(f"{base(service)}/")
        assert desk.status == 200 and 'id="approvals"' in await desk.text()
        signout = await http.post(f"{base(service)}/signout", data={"csrf_token": csrf(await desk.text())},
                                  allow_redirects=False)
        assert signout.status == 303 and signout.headers["Location"] == "/signin"
    async with aiohttp.ClientSession() as replay:
        response = await replay.get(f"{base(service)}/desk", headers={"Cookie": f"inkless_session={stolen}"},
                                    allow_redirects=False)
        assert response.status == 303 and response.headers["Location"].startswith("/signin?next=")
        response = await replay.get(f"{base(service)}/", headers={"Cookie": f"inkless_session={stolen}"},
                                    allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/signin"


async def test_pages_send_security_headers(service: Service) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/signin", "/public", "/desk", "/documents/1", "/no/such/page", "/api/v1/documents",
                     "/api/v1/openapi.json", "/static/inkless.css"):
            response = await http.get(base(service) + path, allow_redirects=False)
            assert response.headers.get("X-Frame-Options") == "DENY", path
            assert response.headers.get("X-Content-Type-Options") == "nosniff", path
            policy = response.headers.get("Content-Security-Policy", "")
            assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, path
        page = await (await http.get(f"{base(service)}/signin")).text()
        assert "<style" not in page and "style=" not in page and "<script" not in page
        stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)">', page)
        assert stylesheet
        css = await http.get(base(service) + stylesheet.group(1))
        assert css.status == 200 and css.content_type == "text/css" and "header{" in await css.text()
