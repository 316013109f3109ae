"""The JSON API, /healthz and /metrics over real HTTP."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from inkless.bridge.app import Service
from tests.conftest import DOMAIN, CaptureRelay, simple_mail, smtp_send, wait_for

AUTH = {"Authorization": "Bearer static-test-token"}
DOCUMENT_FIELDS = {"id", "number", "type", "title", "status", "public", "sender", "unit", "created_at", "issued_at",
                   "versions", "approvals", "recipients", "direction", "source_organ", "source_number",
                   "incoming_number", "parent_id", "answers_id", "answered_by", "units", "urgency", "signer",
                   "issue_date", "co_issuers"}
RECIPIENT_FIELDS = {"email", "sent_at", "delivered_at", "read_at", "acknowledged_at", "failed", "reason", "comment",
                    "copy_number"}


async def get(service: Service, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        response = await http.get(f"http://127.0.0.1:{service.web_port}{path}",
                                  headers=AUTH if headers is None else headers)
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def issue(service: Service, relay: CaptureRelay, sender: str, unit: str, subject: str, copies: int) -> None:
    before = len(relay.messages)
    raw = simple_mail(sender, f"{unit}@{DOMAIN}", subject, "正文")
    assert (await smtp_send(service.smtp_port, sender, [f"{unit}@{DOMAIN}"], raw)).startswith("250")
    await wait_for(lambda: len(relay.messages) == before + copies + 1, what=f"copies of {subject}")

    async def recorded() -> bool:
        # The relay has the copies a moment before Inkless records that it took them.
        _, page = await get(service, "/api/v1/documents?limit=1")
        return all(r["sent_at"] for r in page["items"][0]["recipients"])

    await wait_for(recorded, what=f"sent_at of the copies of {subject}")


async def test_api_needs_a_bearer_token(service: Service) -> None:
    assert (await get(service, "/api/v1/documents", headers={}))[0] == 401
    status, body = await get(service, "/api/v1/documents", headers={"Authorization": "Bearer wrong"})
    assert (status, body) == (401, {"error": "invalid bearer token"})
    assert (await get(service, "/api/v1/openapi.json", headers={}))[0] == 200


async def test_tokens_from_the_cli_work_until_unknown(service: Service, tmp_path: Any) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inkless", "api-token", "create", "reporting", "--owner", "admin@test.gov",
        "-c", str(tmp_path / "config.yaml"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    token = out.decode().strip().splitlines()[-1]
    assert len(token) >= 40
    assert (await get(service, "/api/v1/documents", headers={"Authorization": f"Bearer {token}"}))[0] == 200


async def test_document_shape_matches_the_spec(service: Service, relay: CaptureRelay) -> None:
    await issue(service, relay, "fin-clerk@test.gov", "edu", "[通知] 形状", 3)
    status, page = await get(service, "/api/v1/documents")
    assert status == 200 and page["next"] is None
    [listed] = page["items"]
    status, document = await get(service, f"/api/v1/documents/{listed['id']}")
    assert status == 200 and document == listed
    assert set(document) == DOCUMENT_FIELDS
    year = datetime.now(service.config.zone).year
    assert {k: document[k] for k in ("number", "type", "title", "status", "public", "sender", "unit")} == {
        "number": f"延财发〔{year}〕1号", "type": "通知", "title": "形状", "status": "issued", "public": False,
        "sender": "fin-clerk@test.gov", "unit": "finance"}
    assert datetime.fromisoformat(document["created_at"]).utcoffset() == timedelta(hours=8)
    assert document["approvals"] == []
    assert {k: document[k] for k in ("direction", "source_organ", "source_number", "incoming_number", "parent_id",
                                     "answers_id", "answered_by")} == {
        "direction": "outgoing", "source_organ": None, "source_number": None, "incoming_number": None,
        "parent_id": None, "answers_id": None, "answered_by": []}
    assert document["units"] == [{"unit": "edu", "role": "main", "acknowledged_at": None, "by": None}]
    # 签发人 (the sender: finance has no approvers), 成文日期, and a 份号 per copy.
    assert (document["signer"], document["issue_date"], document["urgency"], document["co_issuers"]) == (
        "fin-clerk@test.gov", datetime.now(service.config.zone).date().isoformat(), None, [])
    assert sorted(r["copy_number"] for r in document["recipients"]) == [1, 2, 3]
    [version] = document["versions"]
    assert (version["version"], version["body"].strip(), version["attachments"]) == (1, "正文", [])
    assert {r["email"] for r in document["recipients"]} == {"edu-clerk@test.gov", "edu-staff@test.gov",
                                                           "shared@test.gov"}
    for recipient in document["recipients"]:
        assert set(recipient) == RECIPIENT_FIELDS
        assert (recipient["failed"], recipient["reason"], recipient["comment"]) == (False, None, None)
        assert recipient["read_at"] is None and recipient["delivered_at"] is None
    assert (await get(service, "/api/v1/documents/999999"))[0] == 404
    assert (await get(service, "/api/v1/documents/abc"))[0] == 404


async def test_filters_and_pages(service: Service, relay: CaptureRelay) -> None:
    await issue(service, relay, "fin-clerk@test.gov", "edu", "[通知] 财政一", 3)
    await issue(service, relay, "fin-clerk@test.gov", "edu", "[通知] 财政二", 3)
    await issue(service, relay, "edu-clerk@test.gov", "finance", "[函] 教育一", 3)

    async def titles(query: str) -> list[str]:
        status, page = await get(service, f"/api/v1/documents?{query}")
        assert status == 200, page
        return [item["title"] for item in page["items"]]

    assert await titles("unit=finance") == ["财政二", "财政一"]
    assert await titles("q=教育") == ["教育一"]
    assert await titles("status=issued&unit=edu") == ["教育一"]
    assert await titles("status=pending_approval") == []
    today = datetime.now(service.config.zone).date()
    assert len(await titles(f"since={today.isoformat()}")) == 3
    assert await titles(f"since={(today + timedelta(days=1)).isoformat()}") == []
    assert len(await titles("limit=5000")) == 3  # capped, not refused

    status, page = await get(service, "/api/v1/documents?limit=2")
    assert [i["title"] for i in page["items"]] == ["教育一", "财政二"] and page["next"]
    path = page["next"].removeprefix("http://inkless.test")
    status, page = await get(service, path)
    assert ([i["title"] for i in page["items"]], page["next"]) == (["财政一"], None)


@pytest.mark.parametrize("query", ["status=approved", "limit=0", "limit=x", "since=yesterday", "before=x"])
async def test_bad_queries_get_400_with_a_message(service: Service, query: str) -> None:
    status, body = await get(service, f"/api/v1/documents?{query}")
    assert status == 400 and body["error"]


async def test_health_and_metrics(service: Service, relay: CaptureRelay) -> None:
    await issue(service, relay, "fin-clerk@test.gov", "edu", "[通知] 计数", 3)
    status, health = await get(service, "/healthz", headers={})
    assert status == 200
    assert health["parts"] == {"smtp": "ok", "inbox": "ok", "outbox": "ok", "database": "ok"}
    status, text = await get(service, "/metrics", headers={})
    assert status == 200
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert float(samples['inkless_inbound_stored_total{source="smtp"}']) >= 1
    assert float(samples['inkless_outbound_total{result="sent"}']) >= 4
    assert 'inkless_queue_depth{queue="outbound_queued"}' in samples
    assert "inkless_processing_seconds_count" in samples


def test_every_api_route_is_in_the_openapi_description() -> None:
    from inkless.web.openapi import OPENAPI
    from inkless.web.routes import ROUTES

    served = {(route.path, route.method.lower()) for route in ROUTES  # type: ignore[attr-defined]
              if route.path.startswith("/api/v1/")}  # type: ignore[attr-defined]
    described = {(path, method) for path, item in OPENAPI["paths"].items() for method in item if method != "parameters"}
    assert served == described
