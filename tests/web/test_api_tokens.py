"""API tokens with an owner and a scope, the per-token rate limit, and malformed JSON, over real
HTTP (SPEC §3 "Web security", issue 15 item 7)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from inkless.bridge.app import Service
from inkless.storage.models import ApiToken
from inkless.web.api_auth import API_BURST, API_PER_SECOND
from tests.conftest import DOMAIN, CaptureRelay, simple_mail, smtp_send, wait_for

STATIC = "static-test-token"


async def make_token(service: Service, owner: str | None, scope: str | None) -> str:
    """A token row as `inkless api-token create` stores it (owner None: one from before owners)."""
    assert service.sessions is not None
    token = secrets.token_urlsafe(32)
    async with service.sessions() as session, session.begin():
        session.add(ApiToken(name=f"test {owner} {scope}", token_hash=hashlib.sha256(token.encode()).hexdigest(),
                             created_at=service.clock.now(), owner=owner, scope=scope))
    return token


async def call(service: Service, method: str, path: str, token: str, body: Any = None,
               data: bytes | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"http://127.0.0.1:{service.web_port}{path}", json=body, data=data,
                                headers={"Authorization": f"Bearer {token}"}) as response:
            return response.status, await response.json()


MESSAGE = {"from": "boss@test.gov", "to": ["all"], "text": "全体人员明早八点开会"}


async def test_a_write_token_acts_only_as_its_owner(service: Service) -> None:
    """The reported attack: any token could post a short message as the county leader to all@."""
    clerk_reads = await make_token(service, "fin-clerk@test.gov", "read")
    clerk_writes = await make_token(service, "fin-clerk@test.gov", "write")
    admin_writes = await make_token(service, "admin@test.gov", "write")
    status, body = await call(service, "POST", "/api/v1/messages", clerk_reads, MESSAGE)
    assert (status, body) == (403, {"error": "this token may only read (scope read)"})
    status, body = await call(service, "POST", "/api/v1/messages", clerk_writes, MESSAGE)
    assert status == 403 and body["error"].startswith("from: this token acts only for its owner fin-clerk@test.gov")
    own = {**MESSAGE, "from": "fin-clerk@test.gov", "to": ["edu"]}
    assert (await call(service, "POST", "/api/v1/messages", clerk_writes, own))[0] == 202
    # An admin's token, and the operator's static token, may act for anyone.
    assert (await call(service, "POST", "/api/v1/messages", admin_writes, MESSAGE))[0] == 202
    assert (await call(service, "POST", "/api/v1/messages", STATIC, MESSAGE))[0] == 202

    event = {"title": "会议", "start": "2026-12-20T09:00:00", "organizer": "boss@test.gov", "to": ["edu"]}
    assert (await call(service, "POST", "/api/v1/events", clerk_writes, event))[0] == 403
    status, created = await call(service, "POST", "/api/v1/events", clerk_writes,
                                 {**event, "organizer": "fin-clerk@test.gov"})
    assert status == 201
    status, boss_event = await call(service, "POST", "/api/v1/events", STATIC, event)
    assert status == 201
    assert (await call(service, "PATCH", f"/api/v1/events/{boss_event['id']}", clerk_writes, {"title": "改"}))[0] == 403
    assert (await call(service, "DELETE", f"/api/v1/events/{boss_event['id']}", clerk_writes))[0] == 403
    assert (await call(service, "PATCH", f"/api/v1/events/{created['id']}", clerk_writes, {"title": "改"}))[0] == 200
    assert (await call(service, "DELETE", f"/api/v1/events/{created['id']}", clerk_reads))[0] == 403
    task = {"title": "报送", "owner": "boss@test.gov", "to": ["edu"], "deadline": "2026-12-20"}
    assert (await call(service, "POST", "/api/v1/tasks", clerk_writes, task))[0] == 403
    assert (await call(service, "POST", "/api/v1/tasks", clerk_writes, {**task, "owner": "fin-clerk@test.gov"}))[0] == 201


async def test_a_token_sees_what_its_owner_may_see(service: Service, relay: CaptureRelay) -> None:
    raw = simple_mail("signed-clerk@test.gov", f"edu@{DOMAIN}", "[请示] 草稿请示")
    assert (await smtp_send(service.smtp_port, "signed-clerk@test.gov", [f"edu@{DOMAIN}"], raw)).startswith("250")
    await wait_for(lambda: len(relay.to("signer@test.gov")) == 1, what="the sign-off request")
    status, page = await call(service, "GET", "/api/v1/documents", STATIC)
    [draft] = [d for d in page["items"] if d["title"] == "草稿请示"]
    assert draft["status"] == "pending_approval"
    status, private = await call(service, "POST", "/api/v1/events", STATIC, {
        "title": "人事会议", "start": "2026-12-20T09:00:00", "organizer": "clerk@test.gov", "to": ["finance"],
        "private": True})
    assert status == 201
    status, message = await call(service, "POST", "/api/v1/messages", STATIC,
                                 {"from": "clerk@test.gov", "to": ["finance"], "text": "仅财政局"})
    assert status == 202

    async def sees(owner: str) -> tuple[bool, bool, bool, bool, bool, bool]:
        token = await make_token(service, owner, "read")
        documents = [d["id"] for d in (await call(service, "GET", "/api/v1/documents", token))[1]["items"]]
        events = [e["id"] for e in (await call(service, "GET", "/api/v1/events", token))[1]["items"]]
        return (draft["id"] in documents,
                (await call(service, "GET", f"/api/v1/documents/{draft['id']}", token))[0] == 200,
                private["id"] in events,
                (await call(service, "GET", f"/api/v1/events/{private['id']}", token))[0] == 200,
                (await call(service, "GET", f"/api/v1/messages/{message['id']}", token))[0] == 200,
                (await call(service, "GET", "/api/v1/quarantine", token))[0] == 200)

    assert await sees("edu-staff@test.gov") == (False, False, False, False, False, False)
    assert await sees("signer@test.gov") == (True, True, False, False, False, False)  # an approver
    assert await sees("signed-clerk@test.gov") == (True, True, False, False, False, False)  # the sender
    assert await sees("fin-staff@test.gov") == (False, False, True, True, True, False)  # an attendee
    assert await sees("admin@test.gov") == (True, True, True, True, True, True)
    status, body = await call(service, "GET", "/api/v1/quarantine", await make_token(service, "edu-staff@test.gov",
                                                                                      "write"))
    assert status == 403 and body["error"]


async def test_tokens_without_an_owner_or_whose_owner_left_are_refused(service: Service) -> None:
    legacy = await make_token(service, None, None)
    status, body = await call(service, "GET", "/api/v1/documents", legacy)
    assert status == 401 and "--owner" in body["error"]
    gone = await make_token(service, "left@test.gov", "read")
    status, body = await call(service, "GET", "/api/v1/documents", gone)
    assert status == 401 and "no longer a member" in body["error"]


async def test_each_token_is_rate_limited(service: Service) -> None:
    token = await make_token(service, "edu-staff@test.gov", "read")
    async with aiohttp.ClientSession() as http:
        async def one(bearer: str) -> tuple[int, str | None, Any]:
            async with http.get(f"http://127.0.0.1:{service.web_port}/api/v1/tasks",
                                headers={"Authorization": f"Bearer {bearer}"}) as response:
                return response.status, response.headers.get("Retry-After"), await response.json()

        # 300 at once: the burst passes, then at most API_PER_SECOND a second more, however long
        # this loaded machine takes to send them; the rest are refused.
        started = time.monotonic()
        answers = await asyncio.gather(*(one(token) for _ in range(300)))
        elapsed = time.monotonic() - started
        statuses = [status for status, _, _ in answers]
        assert set(statuses) == {200, 429}, statuses
        assert API_BURST <= statuses.count(200) <= API_BURST + API_PER_SECOND * elapsed + 1, (elapsed, statuses)
        limited = next(answer for answer in answers if answer[0] == 429)
        assert limited[1] is not None and int(limited[1]) >= 1 and "too many requests" in limited[2]["error"]
        # Another token is not held up by this one.
        other = await make_token(service, "fin-staff@test.gov", "read")
        assert (await one(other))[0] == 200
        async def refilled() -> bool:
            return (await one(token))[0] == 200

        await wait_for(refilled, timeout=5, what="the token's bucket refilled")


MALFORMED = [b"[" * 1_000_000, b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 200_000, b"\xff\xfe{}", b"{", b""]


async def test_malformed_json_of_any_depth_gets_400(service: Service) -> None:
    """The reported attack: 1 MB of `[` was a 500 (the json module's RecursionError)."""
    for method, path in (("POST", "/api/v1/messages"), ("POST", "/api/v1/events"), ("PATCH", "/api/v1/events/1"),
                         ("POST", "/api/v1/tasks")):
        for body in MALFORMED:
            status, answer = await call(service, method, path, STATIC, data=body)
            assert status == 400 and answer["error"].startswith("the body must be a JSON object"), \
                (method, path, body[:10], status, answer)


def inkless(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inkless", *args], capture_output=True, text=True, timeout=60)


async def test_api_token_create_names_an_owner_and_a_scope(service: Service, tmp_path: Path) -> None:
    config = str(tmp_path / "config.yaml")
    made, writer, refused = await asyncio.gather(
        asyncio.to_thread(inkless, "api-token", "create", "reports", "--owner", "Fin-Staff@test.gov", "-c", config),
        asyncio.to_thread(inkless, "api-token", "create", "sender", "--owner", "fin-staff@test.gov", "--scope", "write",
                          "-c", config),
        asyncio.to_thread(inkless, "api-token", "create", "x", "--owner", "stranger@else.example", "-c", config))
    assert made.returncode == 0, made.stderr
    *_, said, token = made.stdout.strip().splitlines()
    assert "fin-staff@test.gov" in said and "scope read" in said and len(token) >= 40
    assert (await call(service, "GET", "/api/v1/tasks", token))[0] == 200
    assert (await call(service, "POST", "/api/v1/messages", token, MESSAGE))[0] == 403
    write_token = writer.stdout.strip().splitlines()[-1]
    own = {"from": "fin-staff@test.gov", "to": ["edu"], "text": "好"}
    assert (await call(service, "POST", "/api/v1/messages", write_token, own))[0] == 202
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1] == \
        "inkless: stranger@else.example is not a member of the organisation", refused.stderr
    listed = await asyncio.to_thread(inkless, "api-token", "list", "-c", config)
    rows = sorted((line.split("\t") for line in listed.stdout.strip().splitlines()), key=lambda row: row[1])
    assert [(row[1], row[2], row[3], row[5]) for row in rows] == [
        ("reports", "fin-staff@test.gov", "read", "active"), ("sender", "fin-staff@test.gov", "write", "active")]
    revoked = await asyncio.to_thread(inkless, "api-token", "revoke", rows[1][0], "-c", config)
    assert revoked.returncode == 0, revoked.stderr
    assert (await call(service, "GET", "/api/v1/tasks", write_token))[0] == 401


async def test_the_plain_spec_form_makes_an_operator_token(service: Service, tmp_path: Path) -> None:
    """`inkless api-token create NAME` (SPEC §1) without --owner: the operator's, like api.tokens."""
    config = str(tmp_path / "config.yaml")
    made = await asyncio.to_thread(inkless, "api-token", "create", "integration", "-c", config)
    assert made.returncode == 0, made.stderr
    *_, said, token = made.stdout.strip().splitlines()
    assert "operator" in said
    assert (await call(service, "GET", "/api/v1/quarantine", token))[0] == 200
    as_leader = {"from": "boss@test.gov", "to": ["edu"], "text": "通知"}
    assert (await call(service, "POST", "/api/v1/messages", token, as_leader))[0] == 202
    scoped = await asyncio.to_thread(inkless, "api-token", "create", "x", "--scope", "write", "-c", config)
    assert scoped.returncode == 2 and "--scope needs --owner" in scoped.stderr
