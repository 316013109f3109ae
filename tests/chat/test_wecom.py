"""WeCom (企业微信) inside the real service, against the local WeCom API stand-in (whose
callback crypto is wechatpy's): cards for sign-off and meetings, decisions by press equal to
a mail reply, buttons replaced wherever the decision was made, short messages by WeCom and
by mail, forged and replayed callbacks, rate limits, and the secrets kept out of the logs."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import func, select

from inkless.bridge.app import Service
from inkless.storage.models import AuditEntry, ChatMessage
from tests.chat.botapi import FakeBotAPI
from tests.chat.test_bot import (
    approvals,
    buttons,
    chat_settled,
    link,
    post_short_message,
    submit_for_signoff,
    telegram,
)
from tests.chat.wecomapi import FakeWeCom
from tests.conftest import (
    DOMAIN,
    TEST_ORG,
    CaptureRelay,
    api,
    next_mail,
    simple_mail,
    smtp_send,
    wait_for,
)
from tests.handlers.replies import reply

SIGNER, CHIEF = "signer@test.gov", "chief@test.gov"
TOKEN = {"Authorization": "Bearer static-test-token"}
# WeCom userids: the stand-in knows all but `liangbian` (shared@ has an id WeCom never heard of).
WECOM_IDS = {"signer@test.gov": "ShenPi", "chief@test.gov": "yibashou", "fin-clerk@test.gov": "chenkuaiji",
             "shared@test.gov": "liangbian"}
KNOWN = ("shenpi", "yibashou", "chenkuaiji")
NOT_YOURS, PENDING_NONE = "此按钮不属于您绑定的账号。", "没有待您签发的公文。"


def org() -> dict[str, Any]:
    units = []
    for unit in TEST_ORG["units"]:
        members = [{**m, "wecom": WECOM_IDS[m["email"]]} if m["email"] in WECOM_IDS else m for m in unit["members"]]
        units.append({**unit, "members": members})
    return {"units": units}


def wecom_config(api: FakeWeCom) -> dict[str, Any]:
    return {"corp_id": api.corp_id, "agent_id": api.agent_id, "secret": api.secret, "token": api.token,
            "encoding_aes_key": api.encoding_aes_key, "base_url": api.base_url, "max_per_second": 200,
            "per_user_interval": 0}


@pytest.fixture
async def wecomapi() -> Any:
    api = FakeWeCom(users=KNOWN)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


async def start(make_service: Any, relay: CaptureRelay, api: FakeWeCom, *, wecom_timeout: float = 15.0,
                **options: Any) -> Service:
    service: Service = await make_service(relay, org=org(), wecom={**wecom_config(api), "timeout": wecom_timeout},
                                          **options)
    api.callback_url = f"http://127.0.0.1:{service.web_port}/wecom/callback"
    return service


@pytest.fixture
async def service(wecomapi: FakeWeCom, make_service: Any, relay: CaptureRelay) -> Service:
    return await start(make_service, relay, wecomapi)


def keys(card: dict[str, Any]) -> list[tuple[str, str]]:
    return [(b["text"], b["key"]) for b in card["template_card"]["button_list"]]


async def card_for(api: FakeWeCom, userid: str, count: int = 1) -> dict[str, Any]:
    """The count-th card sent to a member (waiting for it)."""
    await api.wait_until(lambda: len([m for m in api.sent_to(userid) if m["msgtype"] == "template_card"]) >= count,
                         what=f"card {count} to {userid}")
    return [m for m in api.sent_to(userid) if m["msgtype"] == "template_card"][count - 1]


async def texts_to(api: FakeWeCom, userid: str, count: int) -> list[str]:
    await api.wait_until(lambda: len([m for m in api.sent_to(userid) if m["msgtype"] == "text"]) >= count,
                         what=f"{count} texts to {userid}")
    return [m["text"]["content"] for m in api.sent_to(userid) if m["msgtype"] == "text"]


async def replaced(api: FakeWeCom, card: dict[str, Any]) -> str:
    """What a card shows instead of its buttons, once they are gone."""
    task_id = card["template_card"]["task_id"]
    await api.wait_until(lambda: api.card(task_id)["buttons"] is None, what="the card's buttons to be replaced")
    return str(api.card(task_id)["replace_name"])


async def audit_count(service: Service, action: str) -> int:
    assert service.sessions is not None
    async with service.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEntry)
                                        .where(AuditEntry.action == action)) or 0)


async def test_agree_on_a_card_decides_moves_the_chain_and_replaces_the_buttons(
        service: Service, relay: CaptureRelay, wecomapi: FakeWeCom) -> None:
    await submit_for_signoff(service)
    card = await card_for(wecomapi, "ShenPi")
    assert card["template_card"]["card_type"] == "button_interaction"
    assert card["template_card"]["main_title"]["title"].startswith("【待签发】关于追加预算的请示")
    (agree_label, agree), (reject_label, _) = keys(card)
    assert (agree_label, reject_label) == ("同意", "不同意")
    result = await wecomapi.press("shenpi", card["template_card"]["task_id"], agree)
    assert result.status == 200
    # Exactly as a mail reply: the next approver is asked (by mail, and by card on WeCom).
    assert (await next_mail(relay, CHIEF))["Subject"] == "[待签发] 关于追加预算的请示（第1版）"
    await card_for(wecomapi, "yibashou")
    first, second = await approvals(service)
    assert (first.decision, first.channel, first.decided_by, second.decision) == ("approve", "wecom", None, None)
    document = (await api(service, "/api/v1/documents"))["items"][0]
    assert [a["channel"] for a in document["approvals"]] == ["wecom", None]
    assert await replaced(wecomapi, card) == "已同意"
    # The card was replaced with the code of the press, and that code only once.
    assert [u["response_code"] for u in wecomapi.updates] == [result.response_code]


async def test_a_mail_decision_replaces_the_cards_buttons_and_a_late_press_decides_nothing(
        service: Service, relay: CaptureRelay, wecomapi: FakeWeCom) -> None:
    await submit_for_signoff(service)
    card = await card_for(wecomapi, "ShenPi")
    mailed = await next_mail(relay, SIGNER)
    answer = reply(mailed, SIGNER, "不同意，请补充依据")
    assert (await smtp_send(service.smtp_port, SIGNER, [str(mailed["Reply-To"])], answer)).startswith("250")
    assert await replaced(wecomapi, card) == "已不同意"
    # A press the client sent before it refreshed: told who decided, nothing changes.
    (_, agree), _ = keys(card)
    await wecomapi.press("shenpi", card["template_card"]["task_id"], agree, check=False)
    [told] = await texts_to(wecomapi, "ShenPi", 1)
    assert "已由审批领导" in told and "不同意" in told
    assert [(a.decision, a.channel) for a in await approvals(service)] == [("reject", "mail"), (None, None)]


async def test_disagree_asks_for_the_reason_and_the_next_text_gives_it(
        service: Service, relay: CaptureRelay, wecomapi: FakeWeCom) -> None:
    await submit_for_signoff(service)
    card = await card_for(wecomapi, "ShenPi")
    _, (_, disagree) = keys(card)
    await wecomapi.press("shenpi", card["template_card"]["task_id"], disagree)
    [asked] = await texts_to(wecomapi, "ShenPi", 1)
    assert asked.startswith("请直接回复不同意的理由")
    assert (await approvals(service))[0].decision is None  # not before the reason
    # A command meanwhile is a command, not the reason: 待办 shows the request again.
    await wecomapi.send_text("shenpi", "待办")
    again = await card_for(wecomapi, "ShenPi", 2)
    assert again["template_card"]["main_title"]["title"].startswith("【待签发】关于追加预算的请示")
    assert (await approvals(service))[0].decision is None
    await wecomapi.send_text("shenpi", "预算过高，请压缩")
    returned = await next_mail(relay, "signed-clerk@test.gov")
    assert returned["Subject"] == "[退回] 关于追加预算的请示（第1版）"
    first, _ = await approvals(service)
    assert (first.decision, first.comment, first.channel) == ("reject", "预算过高，请压缩", "wecom")
    assert await replaced(wecomapi, card) == "已不同意"


async def test_a_meeting_cards_leave_button_records_declined(
        service: Service, relay: CaptureRelay, wecomapi: FakeWeCom) -> None:
    day = date.today() + timedelta(days=7)
    raw = simple_mail("clerk@test.gov", f"finance@{DOMAIN}", "[会议] 年终预算协调会",
                      f"时间：{day.isoformat()} 09:30-11:00\n地点：三楼会议室\n")
    assert (await smtp_send(service.smtp_port, "clerk@test.gov", [f"finance@{DOMAIN}"], raw)).startswith("250")
    card = await card_for(wecomapi, "chenkuaiji")
    labels = [label for label, _ in keys(card)]
    assert labels == ["参加", "请假"]
    await wecomapi.press("chenkuaiji", card["template_card"]["task_id"], keys(card)[1][1])
    assert await replaced(wecomapi, card) == "已回复：请假"
    [event] = (await api(service, "/api/v1/events"))["items"]
    answers = {a["email"]: a["partstat"] for a in event["attendees"]}
    assert answers["fin-clerk@test.gov"] == "DECLINED" and answers["fin-staff@test.gov"] == "NEEDS-ACTION"


async def test_a_short_message_reaches_wecom_members_by_wecom_and_the_rest_by_mail(
        service: Service, relay: CaptureRelay, wecomapi: FakeWeCom) -> None:
    message_id = await post_short_message(service, "下午三点到三楼开会")
    card = await card_for(wecomapi, "chenkuaiji")
    assert "下午三点到三楼开会" in card["template_card"]["sub_title_text"]
    # fin-staff has no WeCom id; shared@'s id is unknown to WeCom: both by mail.
    assert "下午三点到三楼开会" in (await next_mail(relay, "fin-staff@test.gov")).get_body(("plain",)).get_content()
    assert "下午三点到三楼开会" in (await next_mail(relay, "shared@test.gov")).get_body(("plain",)).get_content()
    assert relay.to("fin-clerk@test.gov") == []
    copies = {c["email"]: c for c in (await api(service, f"/api/v1/messages/{message_id}"))["recipients"]}
    assert copies["fin-clerk@test.gov"]["channel"] == "wecom" and copies["fin-clerk@test.gov"]["sent_at"]
    assert copies["fin-staff@test.gov"]["channel"] == "mail"
    shared = copies["shared@test.gov"]
    assert shared["channel"] == "mail" and "liangbian" in shared["reason"] and shared["reason"].startswith("wecom")
    assert service.sessions is not None
    async with service.sessions() as session:
        failed = (await session.scalars(select(ChatMessage).where(ChatMessage.userid == "liangbian"))).one()
    assert failed.status == "failed"
    # 已读 on the card records the reading.
    await wecomapi.press("chenkuaiji", card["template_card"]["task_id"], keys(card)[0][1])
    assert await replaced(wecomapi, card) == "已读"
    copies = {c["email"]: c for c in (await api(service, f"/api/v1/messages/{message_id}"))["recipients"]}
    assert copies["fin-clerk@test.gov"]["read_at"]


async def test_forged_replayed_stale_and_misdirected_callbacks_decide_nothing(
        service: Service, relay: CaptureRelay, wecomapi: FakeWeCom) -> None:
    await submit_for_signoff(service)
    card = await card_for(wecomapi, "ShenPi")
    task_id = card["template_card"]["task_id"]
    (_, agree), _ = keys(card)
    # A forged signature: 403, nothing decided.
    forged = await wecomapi.press("shenpi", task_id, agree, signature="0" * 40)
    assert forged.status == 403
    # An old timestamp, correctly signed: 403.
    old = str(int(time.time()) - 3600)
    xml = wecomapi.crypto.encrypt_message(press_xml(wecomapi, "ShenPi", task_id, agree), "oldnonce1", old)
    encrypted, signature = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", xml), re.search(
        r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", xml)
    assert encrypted and signature
    status, _ = await wecomapi.post_callback(
        {"msg_signature": signature.group(1), "timestamp": old, "nonce": "oldnonce1"},
        outer(wecomapi, encrypted.group(1)))
    assert status == 403
    # Not XML, no signature at all, an encoding Python lacks: 400, before anything else.
    for body, expected in ((b"not xml", 400), (b'<?xml version="1.0" encoding="bogus"?><xml/>', 400),
                           (b"<a>" * 5_000, 400), (b"<a>" * 100_000, 413)):
        status, _ = await wecomapi.post_callback({}, body)
        assert status == expected
    # The chief presses the signer's card: refused and audited.
    await wecomapi.press("yibashou", task_id, agree, check=False)
    assert (await texts_to(wecomapi, "yibashou", 1))[0] == NOT_YOURS
    assert await audit_count(service, "wecom.press_refused") == 1
    # A member the org file does not know.
    await wecomapi.press("stranger", task_id, agree, check=False)
    await wait_for(lambda: audit_count(service, "wecom.unknown_user"), what="the unknown user to be audited")
    assert [a.decision for a in await approvals(service)] == [None, None]
    # The real press, then the very same request again: decided once, the replay audited.
    pressed = await wecomapi.press("shenpi", task_id, agree)
    assert pressed.status == 200
    await next_mail(relay, CHIEF)
    await replaced(wecomapi, card)
    status, _ = await wecomapi.post_callback(pressed.query, pressed.body)
    assert status == 200
    assert await audit_count(service, "wecom.replayed") == 1
    assert await audit_count(service, "signoff.approve") == 1
    assert len(relay.to(CHIEF)) == 1


def press_xml(api: FakeWeCom, userid: str, task_id: str, key: str) -> str:
    return (f"<xml><ToUserName><![CDATA[{api.corp_id}]]></ToUserName><FromUserName><![CDATA[{userid}]]>"
            f"</FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType><Event>"
            f"<![CDATA[template_card_event]]></Event><EventKey><![CDATA[{key}]]></EventKey><TaskId><![CDATA["
            f"{task_id}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType><ResponseCode><![CDATA[rc]]>"
            f"</ResponseCode><AgentID>{api.agent_id}</AgentID></xml>")


def outer(api: FakeWeCom, encrypted: str) -> bytes:
    return (f"<xml><ToUserName><![CDATA[{api.corp_id}]]></ToUserName><AgentID><![CDATA[{api.agent_id}]]>"
            f"</AgentID><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>").encode()


async def test_url_verification_answers_the_decrypted_echostr(service: Service, wecomapi: FakeWeCom) -> None:
    status, body, expected = await wecomapi.verify_url()
    assert (status, body) == (200, expected)

    def signed(plain: str, nonce: str) -> dict[str, str]:
        timestamp = str(int(time.time()))
        xml = wecomapi.crypto.encrypt_message(plain, nonce, timestamp)
        encrypted = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", xml)
        signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", xml)
        assert encrypted and signature
        return {"msg_signature": signature.group(1), "timestamp": timestamp, "nonce": nonce,
                "echostr": encrypted.group(1)}

    async with aiohttp.ClientSession() as http:
        query = signed("1616140317555161061", "verify1")
        async with http.get(wecomapi.callback_url, params=query) as response:
            assert (response.status, await response.text()) == (200, "1616140317555161061")
        # The same verification again, and a captured message's ciphertext: never decrypted for anyone.
        async with http.get(wecomapi.callback_url, params=query) as response:
            assert response.status == 403
        captured = signed("<xml><Content><![CDATA[理由：机密]]></Content></xml>", "verify2")
        async with http.get(wecomapi.callback_url, params=captured) as response:
            assert response.status == 403 and "机密" not in await response.text()
        async with http.get(wecomapi.callback_url, params={
                "msg_signature": "1" * 40, "timestamp": str(int(time.time())), "nonce": "abc",
                "echostr": "AAAA"}) as response:
            assert response.status == 403


async def test_rate_limit_twice_then_success_delivers_each_message_once(
        service: Service, relay: CaptureRelay, wecomapi: FakeWeCom) -> None:
    wecomapi.fail_next("message/send", 45009, "api freq out of limit", times=2)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{service.web_port}/api/v1/messages", headers=TOKEN,
                             json={"from": "clerk@test.gov", "to": ["fin-clerk@test.gov", SIGNER],
                                   "text": "明早八点集合"}) as response:
            assert response.status == 202
    await card_for(wecomapi, "chenkuaiji")
    await card_for(wecomapi, "ShenPi")
    await chat_settled(service)
    assert len(wecomapi.sent_to("chenkuaiji")) == 1 and len(wecomapi.sent_to("ShenPi")) == 1
    assert [c for c in wecomapi.calls if c[0].endswith("message/send")].__len__() == 4  # two refused, two sent
    assert relay.to("fin-clerk@test.gov") == [] and relay.to(SIGNER) == []


async def test_a_broken_answer_or_a_lost_one_neither_strands_nor_doubles_a_message(
        wecomapi: FakeWeCom, make_service: Any, relay: CaptureRelay) -> None:
    """An answer the JSON parser cannot take (nested too deep) retries the message; an answer that
    comes after the client gave up (the card is there) counts as sent when the resend is refused
    as a duplicate: one card each, nothing by mail instead."""
    service = await start(make_service, relay, wecomapi, wecom_timeout=1.0)
    wecomapi.answer_next_raw("message/send", b"[" * 200_000)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{service.web_port}/api/v1/messages", headers=TOKEN,
                             json={"from": "clerk@test.gov", "to": ["fin-clerk@test.gov"], "text": "第一条"}) as response:
            assert response.status == 202
        await card_for(wecomapi, "chenkuaiji")
        await chat_settled(service)
        wecomapi.delay_next("message/send", 2.5)
        async with http.post(f"http://127.0.0.1:{service.web_port}/api/v1/messages", headers=TOKEN,
                             json={"from": "clerk@test.gov", "to": ["fin-clerk@test.gov"], "text": "第二条"}) as response:
            assert response.status == 202
            second = (await response.json())["id"]
    await card_for(wecomapi, "chenkuaiji", 2)
    await chat_settled(service)
    assert len(wecomapi.sent_to("chenkuaiji")) == 2
    assert relay.to("fin-clerk@test.gov") == []
    [copy] = (await api(service, f"/api/v1/messages/{second}"))["recipients"]
    assert (copy["channel"], copy["failed"]) == ("wecom", False) and copy["sent_at"]


async def test_an_expired_token_is_fetched_again_and_no_secret_reaches_a_log(
        service: Service, wecomapi: FakeWeCom, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await wecomapi.send_text("shenpi", "帮助")
    [helped] = await texts_to(wecomapi, "ShenPi", 1)
    assert "待办" in helped
    wecomapi.expire_tokens()
    await wecomapi.send_text("shenpi", "待办")
    [_, none] = await texts_to(wecomapi, "ShenPi", 2)
    assert none == PENDING_NONE
    assert wecomapi.tokens_issued == 2
    await wecomapi.press("shenpi", "no-such-task", "ap:1:y", signature="f" * 40, check=False)
    wecomapi.fail_next("message/send", 60020, "not allow to access from your ip")
    await wecomapi.send_text("shenpi", "今日")
    await texts_to(wecomapi, "ShenPi", 3)
    assert wecomapi.tokens_issued == 2
    secrets = {wecomapi.secret, wecomapi.token, wecomapi.encoding_aes_key, *wecomapi._tokens, *wecomapi._expired}
    logged = caplog.text
    assert "60020" in logged or "wecom" in logged.lower()
    assert not [secret for secret in secrets if secret in logged]


async def test_one_decision_anywhere_clears_telegram_and_wecom(
        botapi: FakeBotAPI, wecomapi: FakeWeCom, make_service: Any, relay: CaptureRelay) -> None:
    service = await start(make_service, relay, wecomapi, telegram=telegram(botapi))
    await wait_for(lambda: service.bot is not None and service.bot.state == "ok", what="the bot to start")
    await link(service, botapi, SIGNER, 901)
    await submit_for_signoff(service)
    [*_, request] = await botapi.wait_sent(901, 2)
    assert buttons(request)
    card = await card_for(wecomapi, "ShenPi")
    assert len([m for m in wecomapi.sent_to("ShenPi") if m["msgtype"] == "template_card"]) == 1
    (_, agree), _ = keys(card)
    await wecomapi.press("shenpi", card["template_card"]["task_id"], agree)
    await next_mail(relay, CHIEF)
    assert await replaced(wecomapi, card) == "已同意"
    await chat_settled(service)
    [shown] = [m for m in botapi.messages_to(901) if m["message_id"] == request["message_id"]]
    assert "reply_markup" not in shown and "已由审批领导" in shown["text"]
    assert [(a.decision, a.channel) for a in await approvals(service)][0] == ("approve", "wecom")


async def test_check_says_whether_the_wecom_credentials_work(
        service: Service, wecomapi: FakeWeCom, tmp_path: Path) -> None:
    async def check(config: Path) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "inkless", "check", "-c", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        return process.returncode or 0, out.decode(), err.decode()

    code, out, err = await check(tmp_path / "config.yaml")
    assert f"wecom: {wecomapi.base_url}: ok" in out, err
    settings = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))
    settings["wecom"]["secret"] = "a-wrong-secret-value"
    (tmp_path / "wrong.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    code, out, err = await check(tmp_path / "wrong.yaml")
    assert code == 2
    assert "problem: wecom: gettoken refused the credentials: WeCom errcode 40001" in err
    assert "a-wrong-secret-value" not in out + err



def channels_on_the_desk(html: str) -> list[str]:
    """The desk's channel list as its items read."""
    match = re.search(r'<ul id="channels">(.*?)</ul>', html, re.S)
    assert match, "the desk has no channel list"
    return re.findall(r'<li class="channel-\w+">(.*?)</li>', match.group(1))


async def test_the_desk_shows_which_channels_a_person_has(service: Service, relay: CaptureRelay) -> None:
    from tests.web.test_desk import desk, member

    async with member(service, relay, SIGNER) as http:
        assert channels_on_the_desk(await desk(service, http)) == [f"邮件：{SIGNER}", "企业微信：ShenPi"]
    async with member(service, relay, "edu-staff@test.gov") as http:
        assert channels_on_the_desk(await desk(service, http)) == ["邮件：edu-staff@test.gov"]
