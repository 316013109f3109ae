"""The chat bot inside the real service, with the real python-telegram-bot, against the
local Bot API stand-in: linking, short messages by bot and by mail, sign-off by button
(equal in effect to a mail reply), stale buttons, buttons of someone else, 429s, and a
restart in the middle of a broadcast."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, insert, select

from inkless.bridge.app import Service
from inkless.chat import links
from inkless.clock import FixedClock
from inkless.storage.models import (
    Approval,
    ChatLink,
    ChatMessage,
    Document,
    DocumentVersion,
    Event,
    EventUnit,
    ShortMessageRecipient,
)
from inkless.web import desk
from tests.chat.botapi import FakeBotAPI
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
from tests.handlers.replies import reply

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)
SIGNER, CHIEF, SIGNED_CLERK = "signer@test.gov", "chief@test.gov", "signed-clerk@test.gov"
TOKEN = {"Authorization": "Bearer static-test-token"}


def telegram(api: FakeBotAPI, **options: Any) -> dict[str, Any]:
    return {"token": api.token, "base_url": api.base_url, "poll_timeout": 1, "max_per_second": 200,
            "per_chat_interval": 0, **options}


@pytest.fixture
async def service(botapi: FakeBotAPI, make_service: Any, relay: CaptureRelay) -> Service:
    # botapi first: fixtures stop in reverse order, so the service stops before the Bot API does.
    return await started(make_service, relay, botapi)


async def started(make_service: Any, relay: CaptureRelay, botapi: FakeBotAPI, **options: Any) -> Service:
    """A service with the bot running; the real clock unless one is given (retries need time to pass)."""
    service: Service = await make_service(relay, telegram=telegram(botapi), **options)
    await wait_for(lambda: service.bot is not None and service.bot.state == "ok", what="the bot to start")
    return service


async def code_for(service: Service, email: str) -> str:
    assert service.sessions is not None
    person = service.office().directory.person(email)
    assert person is not None
    async with service.sessions() as session, session.begin():
        return await links.new_code(session, person.id, now=service.clock.now(), minutes=30)


async def link(service: Service, api: FakeBotAPI, email: str, chat_id: int) -> None:
    before = len(api.sent_to(chat_id))
    await api.push_text(f"/start {await code_for(service, email)}", chat_id=chat_id)
    [*_, linked] = await api.wait_sent(chat_id, before + 1)
    assert linked["text"].startswith("已绑定")


async def said(api: FakeBotAPI, chat_id: int, text: str, count: int) -> str:
    """Send `text` to the bot as chat_id and return the bot's count-th message there."""
    await api.push_text(text, chat_id=chat_id)
    return str((await api.wait_sent(chat_id, count))[count - 1]["text"])


async def chat_settled(service: Service) -> None:
    assert service.sessions is not None

    async def done() -> bool:
        async with service.sessions() as session:  # type: ignore[misc]
            waiting = await session.scalar(select(func.count()).select_from(ChatMessage).where(
                ChatMessage.status.in_(("queued", "sending"))))
        return waiting == 0
    await settled(service)
    await wait_for(done, what="the chat outbox to empty")


async def post_short_message(service: Service, text: str, to: str = "finance") -> int:
    """The clerk sends a short message through the API; its id."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{service.web_port}/api/v1/messages", headers=TOKEN,
                             json={"from": "clerk@test.gov", "to": [to], "text": text}) as response:
            assert response.status == 202
            return int((await response.json())["id"])


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


async def test_linking_with_valid_used_expired_and_wrong_codes(botapi: FakeBotAPI, make_service: Any,
                                                               relay: CaptureRelay, tmp_path: Any) -> None:
    service = await started(make_service, relay, botapi, clock=FixedClock(NOW))
    # An unlinked chat learns only how to link.
    assert "/start" in await said(botapi, 501, "/desk", 1)
    code = await code_for(service, "fin-staff@test.gov")
    assert (await said(botapi, 501, f"/start {code}", 2)).startswith("已绑定：吴科员")
    assert "我的办公桌" in await said(botapi, 501, "/desk", 3)
    # The same code again, from another chat: used.
    assert await said(botapi, 502, f"/start {code}", 1) == "绑定码无效、已使用或已过期，请重新获取。"
    assert await said(botapi, 502, "/start WRONGCODE1", 2) == "绑定码无效、已使用或已过期，请重新获取。"
    expired = await code_for(service, "fin-clerk@test.gov")
    assert isinstance(service.clock, FixedClock)
    service.clock.at = NOW + timedelta(minutes=31)
    assert await said(botapi, 502, f"/start {expired}", 3) == "绑定码无效、已使用或已过期，请重新获取。"
    assert "/start" in await said(botapi, 502, "/pending", 4)
    # /unlink: the chat is back to knowing nothing.
    assert await said(botapi, 501, "/unlink", 4) == "已解除绑定，本聊天不再接收通知。"
    assert "/start" in await said(botapi, 501, "/desk", 5)
    # The CLI prints a code alone on its last line; it works once.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inkless", "link-code", "edu-staff@test.gov", "-c", str(tmp_path / "config.yaml"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    printed = out.decode().strip().splitlines()[-1]
    service.clock.at = NOW
    assert (await said(botapi, 503, f"/start {printed}", 1)).startswith("已绑定：钱老师")
    # Codes never reach the logs or the audit trail.
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{service.web_port}/metrics") as response:
            assert printed not in await response.text()


async def test_short_message_reaches_linked_members_by_bot_and_the_rest_by_mail(
        service: Service, relay: CaptureRelay, botapi: FakeBotAPI) -> None:
    await link(service, botapi, "fin-staff@test.gov", 601)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{service.web_port}/api/v1/messages", headers=TOKEN,
                             json={"from": "clerk@test.gov", "to": ["finance"], "text": "下午三点到三楼开会"}) as response:
            assert response.status == 202
            message_id = (await response.json())["id"]
        async with http.post(f"http://127.0.0.1:{service.web_port}/api/v1/messages", headers=TOKEN,
                             json={"from": "clerk@test.gov", "to": ["finance"], "text": "长" * 501}) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "text: 短消息最多 500 字，这条有 501 字，未发送。"
    [*_, by_bot] = await botapi.wait_sent(601, 2)
    assert by_bot["text"] == "【短消息】王文书：\n下午三点到三楼开会"
    by_mail = await next_mail(relay, "fin-clerk@test.gov")
    assert by_mail["Subject"] == "[短消息] 王文书：下午三点到三楼开会"
    assert "下午三点到三楼开会" in by_mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    await next_mail(relay, "shared@test.gov")
    assert not relay.to("fin-staff@test.gov")
    await chat_settled(service)
    [(_, read_data)] = buttons(by_bot)
    await botapi.press(by_bot["message_id"], read_data, chat_id=601)
    await botapi.wait_until(lambda: len(botapi.answered) == 1, what="the press to be answered")
    shown = await api(service, f"/api/v1/messages/{message_id}")
    copies = {c["email"]: c for c in shown["recipients"]}
    assert copies["fin-staff@test.gov"]["channel"] == "bot" and copies["fin-staff@test.gov"]["sent_at"]
    assert copies["fin-staff@test.gov"]["read_at"]
    assert copies["fin-clerk@test.gov"]["channel"] == "mail" and copies["fin-clerk@test.gov"]["sent_at"]
    assert copies["fin-clerk@test.gov"]["read_at"] is None


async def test_a_chat_linked_under_a_bot_no_longer_configured_gets_mail_instead(
        botapi: FakeBotAPI, make_service: Any, relay: CaptureRelay, tmp_path: Any) -> None:
    first = await started(make_service, relay, botapi)
    await link(first, botapi, "fin-staff@test.gov", 601)
    await first.stop()
    # The same database, the bot taken out of the configuration: nothing would send to the chat.
    service: Service = await make_service(relay, directory=tmp_path / "without-bot")
    message_id = await post_short_message(service, "明早九点交材料")
    by_mail = await next_mail(relay, "fin-staff@test.gov")
    assert by_mail["Subject"] == "[短消息] 王文书：明早九点交材料"

    async def recorded() -> bool:
        # The relay has the mail before the outbox worker records its answer.
        copies = {c["email"]: c for c in (await api(service, f"/api/v1/messages/{message_id}"))["recipients"]}
        return copies["fin-staff@test.gov"]["sent_at"] is not None
    await wait_for(recorded, what="the mail copy recorded as sent")
    copies = {c["email"]: c for c in (await api(service, f"/api/v1/messages/{message_id}"))["recipients"]}
    assert copies["fin-staff@test.gov"]["channel"] == "mail"
    assert service.sessions is not None
    async with service.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ChatMessage).where(
            ChatMessage.status == "queued")) == 0
    # The desk no longer lists the chat among the person's channels.
    from tests.chat.test_wecom import channels_on_the_desk
    from tests.web.test_desk import desk, member
    async with member(service, relay, "fin-staff@test.gov") as http:
        assert channels_on_the_desk(await desk(service, http)) == ["邮件：fin-staff@test.gov"]


async def test_short_message_by_mail_and_by_send_command(service: Service, relay: CaptureRelay,
                                                         botapi: FakeBotAPI) -> None:
    await link(service, botapi, "fin-staff@test.gov", 701)
    await link(service, botapi, "fin-clerk@test.gov", 702)
    raw = simple_mail("clerk@test.gov", f"finance@{DOMAIN}", "[短消息] 通知", "明早八点集合。\n\n--\n王文书")
    assert (await smtp_send(service.smtp_port, "clerk@test.gov", [f"finance@{DOMAIN}"], raw)).startswith("250")
    [*_, got] = await botapi.wait_sent(701, 2)
    assert got["text"] == "【短消息】王文书：\n明早八点集合。"
    # /send: clerks of the unit (or above) may; staff may not.
    answer = await said(botapi, 702, "/send finance 文件已放在共享盘", 3)
    assert answer == "短消息已发出：2 人（其中 1 人经聊天，1 人经邮件）。"
    assert (await botapi.wait_sent(701, 3))[2]["text"] == "【短消息】陈会计：\n文件已放在共享盘"
    assert await said(botapi, 701, "/send finance 我也想发", 4) == "只有该单位（或上级单位）的文书和领导可以发送短消息。"
    # Too long by mail: the sender is told why, nothing is sent.
    raw = simple_mail("clerk@test.gov", f"finance@{DOMAIN}", "[短消息] 太长", "长" * 600)
    assert (await smtp_send(service.smtp_port, "clerk@test.gov", [f"finance@{DOMAIN}"], raw)).startswith("250")
    refusal = await next_mail(relay, "clerk@test.gov")
    assert refusal["Subject"] == "短消息未发送：太长"
    await chat_settled(service)
    assert len(botapi.sent_to(701)) == 4  # linked, two short messages, the /send refusal


async def submit_for_signoff(service: Service) -> None:
    raw = simple_mail(SIGNED_CLERK, f"edu@{DOMAIN}", "[请示] 关于追加预算的请示", "请批准追加预算十万元。")
    assert (await smtp_send(service.smtp_port, SIGNED_CLERK, [f"edu@{DOMAIN}"], raw)).startswith("250")


async def approvals(service: Service) -> list[Approval]:
    assert service.sessions is not None
    async with service.sessions() as session:
        return list((await session.scalars(select(Approval).order_by(Approval.position))).all())


async def test_approval_by_button_with_confirmation_moves_the_chain_like_a_mail_reply(
        service: Service, relay: CaptureRelay, botapi: FakeBotAPI) -> None:
    await link(service, botapi, SIGNER, 801)
    await submit_for_signoff(service)
    [*_, request] = await botapi.wait_sent(801, 2)
    assert request["text"].startswith("【待签发】关于追加预算的请示（第1版）")
    (approve_label, approve), (_, _reject) = buttons(request)
    assert approve_label == "同意"
    await botapi.press(request["message_id"], approve, chat_id=801)
    [*_, confirm] = await botapi.wait_sent(801, 3)
    assert confirm["text"] == "确认同意签发《关于追加预算的请示》（第1版）？"
    assert (await approvals(service))[0].decision is None  # not before the confirmation
    (_, confirmed), _ = buttons(confirm)
    await botapi.press(confirm["message_id"], confirmed, chat_id=801)
    # The same effect as a mail reply: the next approver is asked by mail.
    chief_request = await next_mail(relay, CHIEF)
    assert chief_request["Subject"] == "[待签发] 关于追加预算的请示（第1版）"
    first, second = await approvals(service)
    assert (first.decision, first.channel, second.decision) == ("approve", "bot", None)
    document = (await api(service, "/api/v1/documents"))["items"][0]
    assert [a["channel"] for a in document["approvals"]] == ["bot", None]
    # No button stays on the request.
    await chat_settled(service)
    [shown] = [m for m in botapi.messages_to(801) if m["message_id"] == request["message_id"]]
    assert "reply_markup" not in shown and "已由审批领导" in shown["text"]


async def test_reject_by_button_asks_for_the_reason_and_returns_the_document(
        service: Service, relay: CaptureRelay, botapi: FakeBotAPI) -> None:
    await link(service, botapi, SIGNER, 811)
    await submit_for_signoff(service)
    [*_, request] = await botapi.wait_sent(811, 2)
    _, (_, reject) = buttons(request)
    await botapi.press(request["message_id"], reject, chat_id=811)
    [*_, asked] = await botapi.wait_sent(811, 3)
    assert asked["text"].startswith("请发送不同意的理由")
    assert await said(botapi, 811, "预算过高，请压缩", 4) != ""
    returned = await next_mail(relay, SIGNED_CLERK)
    assert returned["Subject"] == "[退回] 关于追加预算的请示（第1版）"
    assert "预算过高，请压缩" in returned.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    first, _ = await approvals(service)
    assert (first.decision, first.comment, first.channel) == ("reject", "预算过高，请压缩", "bot")


async def test_a_later_approver_cannot_decide_before_it_is_their_turn(
        service: Service, relay: CaptureRelay, botapi: FakeBotAPI) -> None:
    """A press crafted with the next approver's approval id (ids are sequential) decides
    nothing while the first approver has not decided: the bot asks storage, as mail and the
    desk do, whether the approval can be decided now."""
    await link(service, botapi, CHIEF, 851)
    await submit_for_signoff(service)
    await next_mail(relay, SIGNER)
    _, chiefs = await approvals(service)
    [linked] = botapi.messages_to(851)
    for data in (f"ap:{chiefs.id}:y", f"apc:{chiefs.id}"):
        query = await botapi.press(linked["message_id"], data, chat_id=851)
        await botapi.wait_until(lambda query=query: any(a["callback_query_id"] == query for a in botapi.answered),
                                what="the press to be answered")
        [answered] = [a for a in botapi.answered if a["callback_query_id"] == query]
        assert answered["text"] == "尚未轮到您审批：请等待前一位审批人。"
    assert [a.decision for a in await approvals(service)] == [None, None]
    assert relay.to(CHIEF) == []


async def test_a_mail_decision_makes_the_bot_button_stale(service: Service, relay: CaptureRelay,
                                                          botapi: FakeBotAPI) -> None:
    await link(service, botapi, SIGNER, 821)
    await submit_for_signoff(service)
    [*_, request] = await botapi.wait_sent(821, 2)
    mailed = await next_mail(relay, SIGNER)
    answer = reply(mailed, SIGNER, "同意")
    assert (await smtp_send(service.smtp_port, SIGNER, [str(mailed["Reply-To"])], answer)).startswith("250")
    await next_mail(relay, CHIEF)
    await chat_settled(service)
    # The bot edited its message: no stale button remains.
    [shown] = [m for m in botapi.messages_to(821) if m["message_id"] == request["message_id"]]
    assert "reply_markup" not in shown and "已由审批领导" in shown["text"] and "同意" in shown["text"]
    # A press on the old button (a client that had not refreshed) says who decided when.
    (_, approve), _ = buttons(request)
    query = await botapi.press(request["message_id"], approve, chat_id=821)
    await botapi.wait_until(lambda: any(a["callback_query_id"] == query for a in botapi.answered),
                            what="the stale press to be answered")
    [answered] = [a for a in botapi.answered if a["callback_query_id"] == query]
    assert "已由审批领导" in answered["text"]
    assert [a.decision for a in await approvals(service)] == ["approve", None]
    assert [a.channel for a in await approvals(service)] == ["mail", None]


async def test_a_press_from_a_chat_linked_to_another_person_is_refused(
        service: Service, relay: CaptureRelay, botapi: FakeBotAPI) -> None:
    await link(service, botapi, SIGNER, 831)
    await link(service, botapi, CHIEF, 832)
    await submit_for_signoff(service)
    [*_, request] = await botapi.wait_sent(831, 2)
    (_, approve), _ = buttons(request)
    # The chief's chat sends the signer's button data (forged, or a forwarded keyboard).
    [chief_message] = botapi.sent_to(832)
    query = await botapi.press(chief_message["message_id"], approve, chat_id=832)
    await botapi.wait_until(lambda: any(a["callback_query_id"] == query for a in botapi.answered),
                            what="the press to be answered")
    [answered] = [a for a in botapi.answered if a["callback_query_id"] == query]
    assert answered["text"] == "此按钮不属于您绑定的账号。"
    await settled(service)
    assert [a.decision for a in await approvals(service)] == [None, None]


async def test_429_is_waited_out_and_nothing_is_lost(service: Service, botapi: FakeBotAPI) -> None:
    for n, email in enumerate(("fin-clerk@test.gov", "fin-staff@test.gov", "shared@test.gov")):
        await link(service, botapi, email, 841 + n)
    botapi.fail_next("sendMessage", times=3, status=429, retry_after=1)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{service.web_port}/api/v1/messages", headers=TOKEN,
                             json={"from": "clerk@test.gov", "to": ["finance"], "text": "限流测试"}) as response:
            assert response.status == 202
    for n in range(3):
        [*_, got] = await botapi.wait_sent(841 + n, 2, timeout=20)
        assert got["text"].endswith("限流测试")
    await chat_settled(service)
    refused = [params for method, params in botapi.calls if method == "sendMessage"]
    assert len(refused) >= 3 + 3 + 3  # three /start answers, three refusals, three deliveries
    assert all(len([m for m in botapi.sent_to(841 + n) if m["text"].endswith("限流测试")]) == 1 for n in range(3))


BIG_ORG = {"units": [
    {"id": "office", "name": "办公室", "members": [{"email": "clerk@test.gov", "name": "王文书", "roles": ["clerk"]}]},
    {"id": "crowd", "name": "全体", "members": [{"email": f"p{n}@test.gov", "name": f"人{n}"} for n in range(500)]},
]}


async def test_a_restart_mid_broadcast_loses_and_doubles_nothing(botapi: FakeBotAPI, make_service: Any,
                                                                 relay: CaptureRelay, tmp_path: Any) -> None:
    # Slow enough that the stop (which drains for at most 10 s) lands mid-broadcast.
    settings = telegram(botapi, max_per_second=25)
    first: Service = await make_service(relay, clock=FixedClock(NOW), telegram=settings, org=BIG_ORG)
    assert first.sessions is not None
    directory = first.office().directory
    async with first.sessions() as session, session.begin():
        await session.execute(insert(ChatLink), [
            {"chat_id": 20_000 + n, "person_id": directory.person(f"p{n}@test.gov").id,  # type: ignore[union-attr]
             "linked_at": NOW} for n in range(500)])
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{first.web_port}/api/v1/messages", headers=TOKEN,
                             json={"from": "clerk@test.gov", "to": ["crowd"], "text": "全体注意"}) as response:
            assert response.status == 202
    await botapi.wait_until(lambda: len(botapi.sent) >= 100, timeout=30, what="the broadcast to be under way")
    await first.stop()
    stopped_at = len(botapi.sent)
    assert stopped_at < 500, "the broadcast should still have been running"

    second: Service = await make_service(relay, clock=FixedClock(NOW), telegram=settings, org=BIG_ORG,
                                         directory=tmp_path)
    await botapi.wait_until(lambda: len(botapi.sent) >= 500, timeout=60, what="the rest of the broadcast")
    await chat_settled(second)
    per_chat = [len(botapi.sent_to(20_000 + n)) for n in range(500)]
    assert per_chat == [1] * 500
    assert second.sessions is not None
    async with second.sessions() as session:
        unsent = await session.scalar(select(func.count()).select_from(ShortMessageRecipient).where(
            ShortMessageRecipient.sent_at.is_(None)))
    assert unsent == 0


async def test_webhook_mode_takes_updates_on_the_services_own_port(botapi: FakeBotAPI,
                                                                   make_service: Any, relay: CaptureRelay) -> None:
    service: Service = await make_service(relay, telegram=telegram(
        botapi, webhook_url="https://oa.test.gov/telegram/webhook"))
    await wait_for(lambda: service.bot is not None and service.bot.state == "ok", what="the bot to start")
    assert service.bot is not None
    secret = service.bot.webhook_secret
    [(_, params)] = [call for call in botapi.calls if call[0] == "setWebhook"]
    assert params["url"] == f"https://oa.test.gov/telegram/webhook/{secret}"
    assert params["secret_token"] == secret
    update = {"update_id": 1, "message": {
        "message_id": 1, "date": 1795800000, "chat": {"id": 901, "type": "private"},
        "from": {"id": 901, "is_bot": False, "first_name": "U"}, "text": "/help",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}
    url = f"http://127.0.0.1:{service.web_port}/telegram/webhook"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/{secret}", json=update) as response:
            assert response.status == 404  # the secret header is missing
        async with http.post(f"{url}/wrong", json=update,
                             headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as response:
            assert response.status == 404
        async with http.post(f"{url}/{secret}", json=update,
                             headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as response:
            assert response.status == 200
    [answer] = await botapi.wait_sent(901)
    assert "/start" in answer["text"]  # an unlinked chat is told how to link
    assert not [call for call in botapi.calls if call[0] == "getUpdates"]


async def test_pending_offers_only_the_current_version_as_the_desk_does(botapi: FakeBotAPI, make_service: Any,
                                                                       relay: CaptureRelay) -> None:
    """/pending asks storage what the desk asks: a request left undecided for an older version
    of a document now at version 2 is not offered (one question, one query)."""
    service = await started(make_service, relay, botapi, clock=FixedClock(NOW))
    await link(service, botapi, SIGNER, 841)
    signer = service.office().directory.person(SIGNER)
    assert signer is not None and service.sessions is not None
    async with service.sessions() as session, session.begin():
        document = Document(unit_id="signed", sender=SIGNED_CLERK, type="请示", title="关于追加预算的请示",
                            status="pending_approval", created_at=NOW)
        document.versions += [DocumentVersion(version=1, created_at=NOW, body="十万元"),
                              DocumentVersion(version=2, created_at=NOW, body="五万元")]
        session.add(document)
        await session.flush()
        session.add_all(Approval(document_id=document.id, version=version, position=0, approver=SIGNER,
                                 person_id=signer.id, asked_at=NOW - timedelta(hours=3 - version))
                        for version in (1, 2))
    # The bot answers in order: what /pending said is everything before /help's answer.
    await botapi.push_text("/pending", chat_id=841)
    await botapi.push_text("/help", chat_id=841)
    _, offered, helped = await botapi.wait_sent(841, 3)
    assert offered["text"].startswith("【待签发】关于追加预算的请示（第2版）")
    assert "/pending" in helped["text"]  # not a second request: the stale version is not offered
    async with service.sessions() as session:
        assert [p.approval.version for p in await desk.pending_approvals(session, service.office(), signer)] == [2]


async def test_today_lists_a_units_meeting_only_for_its_attendees_as_the_desk_does(
        botapi: FakeBotAPI, make_service: Any, relay: CaptureRelay) -> None:
    """/today asks storage what the desk and the feed ask: of what was sent to one's unit, the
    schedule entries and only the meetings one attends (a member who joined after the
    invitation is not invited to it)."""
    service = await started(make_service, relay, botapi, clock=FixedClock(NOW))
    await link(service, botapi, "fin-staff@test.gov", 842)
    office = service.office()
    staff = office.directory.person("fin-staff@test.gov")
    assert staff is not None and service.sessions is not None
    async with service.sessions() as session, session.begin():
        for kind, title in (("meeting", "预算会（未受邀）"), ("schedule", "财政局值班")):
            event = Event(uid=f"{kind}@test", kind=kind, title=title, start=NOW + timedelta(hours=1),
                          end=NOW + timedelta(hours=2), organizer=CHIEF, unit_id="finance", status="CONFIRMED",
                          source="mail", created_at=NOW, updated_at=NOW)
            session.add(event)
            await session.flush()
            session.add(EventUnit(event_id=event.id, unit_id="finance"))
    assert await said(botapi, 842, "/today", 2) == "11:00–12:00 财政局值班"
    async with service.sessions() as session:
        today, _ = await desk.appointments(session, office, staff, NOW)
        assert [a.event.title for a in today] == ["财政局值班"]
