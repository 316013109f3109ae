"""Self-test of the WeCom stand-in over real HTTP, and the crypto cross-check.

The stand-in must refuse what the real API refuses for the bridge's tests to mean anything.
The cross-check runs Inkless's own callback crypto (inkless.chat.wecom.crypto) against wechatpy,
an independent implementation of WeCom's scheme, in both directions.
"""

from __future__ import annotations

import base64
import socket
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from wechatpy.enterprise.crypto import WeChatCrypto  # type: ignore[import-untyped]
from wechatpy.enterprise.exceptions import InvalidCorpIdException  # type: ignore[import-untyped]
from wechatpy.exceptions import InvalidSignatureException  # type: ignore[import-untyped]

from tests.chat.wecomapi import DEFAULT_CORP_ID, DEFAULT_SECRET, FakeWeCom, wecomapi

__all__ = ["wecomapi"]

JSONDict = dict[str, Any]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_token(api: FakeWeCom, http: aiohttp.ClientSession, secret: str = DEFAULT_SECRET) -> JSONDict:
    async with http.get(api.base_url + "/cgi-bin/gettoken",
                        params={"corpid": api.corp_id, "corpsecret": secret}) as response:
        assert response.status == 200
        answer: JSONDict = await response.json()
        return answer


async def call(api: FakeWeCom, http: aiohttp.ClientSession, path: str, token: str, body: JSONDict) -> JSONDict:
    async with http.post(f"{api.base_url}/cgi-bin/{path}", params={"access_token": token}, json=body) as response:
        assert response.status == 200
        answer: JSONDict = await response.json()
        return answer


async def token(api: FakeWeCom, http: aiohttp.ClientSession) -> str:
    return str((await get_token(api, http))["access_token"])


def text(api: FakeWeCom, touser: str, content: str) -> JSONDict:
    return {"touser": touser, "msgtype": "text", "agentid": api.agent_id, "text": {"content": content}}


def button_card(api: FakeWeCom, touser: str, task_id: str) -> JSONDict:
    return {"touser": touser, "msgtype": "template_card", "agentid": api.agent_id, "template_card": {
        "card_type": "button_interaction", "task_id": task_id,
        "main_title": {"title": "请审批：延政办发〔2025〕1号", "desc": "王文书 提交"},
        "button_list": [{"text": "同意", "style": 1, "key": f"approve:{task_id}"},
                        {"text": "退回", "style": 2, "key": f"reject:{task_id}"}]}}


# ---- the API -----------------------------------------------------------------------------


async def test_gettoken(wecomapi: FakeWeCom, http: aiohttp.ClientSession) -> None:
    answer = await get_token(wecomapi, http)
    assert answer["errcode"] == 0 and answer["expires_in"] == 7200 and answer["access_token"]
    assert (await get_token(wecomapi, http, "wrong"))["errcode"] == 40001
    async with http.get(wecomapi.base_url + "/cgi-bin/gettoken",
                        params={"corpid": "wwother", "corpsecret": DEFAULT_SECRET}) as response:
        assert (await response.json())["errcode"] == 40013
    assert wecomapi.tokens_issued == 1
    assert [(path, query["corpid"]) for path, query, _ in wecomapi.calls] == [
        ("/cgi-bin/gettoken", DEFAULT_CORP_ID), ("/cgi-bin/gettoken", DEFAULT_CORP_ID),
        ("/cgi-bin/gettoken", "wwother")]


async def test_send_to_known_unknown_and_no_users(wecomapi: FakeWeCom, http: aiohttp.ClientSession) -> None:
    access = await token(wecomapi, http)
    answer = await call(wecomapi, http, "message/send", access, text(wecomapi, "zhangsan|ghost", "你好"))
    assert answer["errcode"] == 0 and answer["invaliduser"] == "ghost" and answer["msgid"]
    assert "response_code" not in answer
    [record] = await wecomapi.wait_sent(1)
    assert record["delivered"] == ["zhangsan"] and record["msgid"] == answer["msgid"]
    assert wecomapi.sent_to("zhangsan") == [record] and wecomapi.sent_to("lisi") == []

    answer = await call(wecomapi, http, "message/send", access, text(wecomapi, "ghost|nobody", "你好"))
    assert answer["errcode"] == 81013
    answer = await call(wecomapi, http, "message/send", access, {**text(wecomapi, "lisi", "x"), "agentid": 1})
    assert answer["errcode"] == 40056
    answer = await call(wecomapi, http, "message/send", access, {**text(wecomapi, "lisi", "x"), "msgtype": "voice"})
    assert answer["errcode"] == 40008
    assert len(wecomapi.sent) == 1


async def test_text_length_is_counted_in_utf8_bytes(wecomapi: FakeWeCom, http: aiohttp.ClientSession) -> None:
    access = await token(wecomapi, http)
    exactly = "审" * 682 + "ab"  # 2048 bytes
    assert (await call(wecomapi, http, "message/send", access, text(wecomapi, "lisi", exactly)))["errcode"] == 0
    over = "审" * 683  # 2049 bytes
    assert (await call(wecomapi, http, "message/send", access, text(wecomapi, "lisi", over)))["errcode"] == 45002
    assert (await call(wecomapi, http, "message/send", access, text(wecomapi, "lisi", "")))["errcode"] == 44004
    assert [m["text"]["content"] for m in wecomapi.sent] == [exactly]


async def test_card_response_code_is_single_use(wecomapi: FakeWeCom, http: aiohttp.ClientSession) -> None:
    access = await token(wecomapi, http)
    answer = await call(wecomapi, http, "message/send", access, button_card(wecomapi, "zhangsan", "doc-1_a@b"))
    assert answer["errcode"] == 0 and answer["response_code"]
    assert wecomapi.card("doc-1_a@b")["buttons"] is not None
    again = await call(wecomapi, http, "message/send", access, button_card(wecomapi, "lisi", "doc-1_a@b"))
    assert again["errcode"] == 40058  # task_id exists
    bad = await call(wecomapi, http, "message/send", access, button_card(wecomapi, "lisi", "doc 2"))
    assert bad["errcode"] == 40058  # a space is not allowed in a task_id

    update = {"userids": ["zhangsan"], "agentid": wecomapi.agent_id, "response_code": answer["response_code"],
              "button": {"replace_name": "已同意"}}
    assert (await call(wecomapi, http, "message/update_template_card", access, update))["errcode"] == 0
    assert wecomapi.card("doc-1_a@b")["buttons"] is None
    assert wecomapi.card("doc-1_a@b")["replace_name"] == "已同意"
    assert (await call(wecomapi, http, "message/update_template_card", access, update))["errcode"] == 40103
    made_up = {**update, "response_code": "never-issued"}
    assert (await call(wecomapi, http, "message/update_template_card", access, made_up))["errcode"] == 40103
    assert wecomapi.updates == [update]


async def test_fail_next_then_success(wecomapi: FakeWeCom, http: aiohttp.ClientSession) -> None:
    access = await token(wecomapi, http)
    wecomapi.fail_next("message/send", 45009, "api freq out of limit", times=2)
    for _ in range(2):
        answer = await call(wecomapi, http, "message/send", access, text(wecomapi, "lisi", "hi"))
        assert answer["errcode"] == 45009 and answer["errmsg"].startswith("api freq out of limit")
    assert wecomapi.sent == []
    assert (await call(wecomapi, http, "message/send", access, text(wecomapi, "lisi", "hi")))["errcode"] == 0
    assert len(wecomapi.sent) == 1


async def test_drop_next_closes_the_connection(wecomapi: FakeWeCom, http: aiohttp.ClientSession) -> None:
    wecomapi.drop_next("/cgi-bin/gettoken", times=2)  # aiohttp retries a GET once by itself
    with pytest.raises(aiohttp.ClientError):
        await get_token(wecomapi, http)
    access = await token(wecomapi, http)
    assert wecomapi.tokens_issued == 1 and len(wecomapi.calls) == 3
    wecomapi.drop_next("message/send")
    with pytest.raises(aiohttp.ClientError):
        await call(wecomapi, http, "message/send", access, text(wecomapi, "lisi", "hi"))
    assert wecomapi.sent == []
    assert (await call(wecomapi, http, "message/send", access, text(wecomapi, "lisi", "hi")))["errcode"] == 0


async def test_expired_and_unknown_tokens(wecomapi: FakeWeCom, http: aiohttp.ClientSession) -> None:
    access = await token(wecomapi, http)
    wecomapi.expire_tokens()
    assert (await call(wecomapi, http, "message/send", access, text(wecomapi, "lisi", "hi")))["errcode"] == 42001
    assert (await call(wecomapi, http, "message/send", "bogus", text(wecomapi, "lisi", "hi")))["errcode"] == 40014
    fresh = await token(wecomapi, http)
    assert (await call(wecomapi, http, "message/send", fresh, text(wecomapi, "lisi", "hi")))["errcode"] == 0
    assert wecomapi.tokens_issued == 2


# ---- callbacks, received by a minimal endpoint that decrypts with wechatpy ----------------


@pytest.fixture
async def receiver(wecomapi: FakeWeCom) -> AsyncIterator[list[str]]:
    """A callback endpoint for wecomapi: refuses a bad signature with 403, otherwise records the
    decrypted XML and answers "success"; answers the URL check with the decrypted echostr."""
    crypto = WeChatCrypto(wecomapi.token, wecomapi.encoding_aes_key, wecomapi.corp_id)
    received: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        q = request.query
        try:
            if request.method == "GET":
                echo = crypto.check_signature(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"])
                return web.Response(text=str(echo))
            received.append(str(crypto.decrypt_message(await request.text(), q["msg_signature"],
                                                       q["timestamp"], q["nonce"])))
        except InvalidSignatureException:
            return web.Response(status=403)
        return web.Response(text="success")

    app = web.Application()
    app.router.add_route("*", "/wecom/callback", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    wecomapi.callback_url = f"http://127.0.0.1:{sock.getsockname()[1]}/wecom/callback"
    try:
        yield received
    finally:
        await runner.cleanup()


async def test_press_send_text_and_verify_url(wecomapi: FakeWeCom, http: aiohttp.ClientSession,
                                              receiver: list[str]) -> None:
    status, body, expected = await wecomapi.verify_url()
    assert (status, body) == (200, expected)

    access = await token(wecomapi, http)
    await call(wecomapi, http, "message/send", access, button_card(wecomapi, "zhangsan", "doc-7"))
    with pytest.raises(KeyError):
        await wecomapi.press("lisi", "doc-7", "approve:doc-7")  # not delivered to lisi
    result = await wecomapi.press("zhangsan", "doc-7", "approve:doc-7")
    assert (result.status, result.text) == (200, "success") and result.response_code
    event = ET.fromstring(receiver[0])
    fields = {child.tag: child.text for child in event}
    assert abs(int(fields.pop("CreateTime") or 0) - int(result.timestamp)) <= 1
    assert fields == {
        "ToUserName": wecomapi.corp_id, "FromUserName": "zhangsan",
        "MsgType": "event", "Event": "template_card_event", "EventKey": "approve:doc-7", "TaskId": "doc-7",
        "CardType": "button_interaction", "ResponseCode": result.response_code, "AgentID": str(wecomapi.agent_id)}
    assert result.plaintext == receiver[0]

    assert await wecomapi.post_callback(result.query, result.body) == (200, "success")  # a replay, byte for byte
    assert receiver[1] == receiver[0]
    forged = await wecomapi.press("zhangsan", "doc-7", "approve:doc-7", signature="0" * 40)
    assert forged.status == 403 and len(receiver) == 2

    update = {"userids": ["zhangsan"], "agentid": wecomapi.agent_id, "response_code": result.response_code,
              "button": {"replace_name": "已同意"}}
    assert (await call(wecomapi, http, "message/update_template_card", access, update))["errcode"] == 0
    with pytest.raises(KeyError):
        await wecomapi.press("zhangsan", "doc-7", "approve:doc-7")  # the buttons are gone

    said = await wecomapi.send_text("lisi", "查询 <文件> ]]> & 1号")
    assert said.status == 200
    message = ET.fromstring(receiver[-1])
    assert message.findtext("MsgType") == "text" and message.findtext("Content") == "查询 <文件> ]]> & 1号"
    assert message.findtext("FromUserName") == "lisi" and len(message.findtext("MsgId") or "") == 19

    reply = "<xml><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[已收到]]></Content></xml>"
    assert wecomapi.decrypt_reply(str(wecomapi.crypto.encrypt_message(reply, "123", "1409304348"))) == reply


# ---- Inkless's crypto against wechatpy ----------------------------------------------------

AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"  # WeCom's documentation sample
TOKEN = "QDG6eK"
CORP_ID = "wx5823bf96d3bd56c7"
DIRECTIONS = ["wechatpy->inkless", "inkless->wechatpy"]
MESSAGES = [
    "<xml><Content><![CDATA[请于周五前审批：关于做好2025年春节期间安全工作的通知]]></Content></xml>",
    "<xml><Content><![CDATA[" + "县政府办公室关于印发《延川县公文处理办法》的通知。" * 40 + "]]></Content></xml>",
    "b" * 32,  # a 32-byte message
    "a" * (64 - 20 - len(CORP_ID)),  # random + length + message + corp id fill two 32-byte blocks exactly
]


def seal(direction: str, plaintext: str, *, corp_id: str = CORP_ID) -> tuple[str, str, str, str]:
    """(encrypted, msg_signature, timestamp, nonce) as the sending side of `direction` makes them."""
    from inkless.chat.wecom.crypto import WecomCrypto

    timestamp, nonce = "1409304348", "xxxxxx"
    if direction == "wechatpy->inkless":
        root = ET.fromstring(WeChatCrypto(TOKEN, AES_KEY, corp_id).encrypt_message(plaintext, nonce, timestamp))
        return root.findtext("Encrypt") or "", root.findtext("MsgSignature") or "", timestamp, nonce
    ours = WecomCrypto(TOKEN, AES_KEY, corp_id)
    encrypted = ours.encrypt(plaintext.encode(), random=b"0123456789abcdef")
    return encrypted, ours.signature(timestamp, nonce, encrypted), timestamp, nonce


def tamper(encrypted: str) -> str:
    """Flip the top bit of the first ciphertext byte: in CBC that flips the top bit of the length
    field, so the message no longer ends where the corp id begins."""
    raw = bytearray(base64.b64decode(encrypted))
    raw[0] ^= 0x80
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("plaintext", MESSAGES, ids=["chinese", "long", "32-bytes", "block-aligned"])
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_crypto_round_trip(direction: str, plaintext: str) -> None:
    from inkless.chat.wecom.crypto import WecomCrypto

    encrypted, signature, timestamp, nonce = seal(direction, plaintext)
    if plaintext.startswith("a"):
        assert (16 + 4 + len(plaintext.encode()) + len(CORP_ID)) % 32 == 0
    if direction == "wechatpy->inkless":
        ours = WecomCrypto(TOKEN, AES_KEY, CORP_ID)
        assert ours.verify(signature, timestamp, nonce, encrypted)
        assert ours.signature(timestamp, nonce, encrypted) == signature
        assert ours.decrypt(encrypted) == plaintext.encode()
    else:
        theirs = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
        assert theirs.decrypt_message({"Encrypt": encrypted}, signature, timestamp, nonce) == plaintext
        assert theirs.check_signature(signature, timestamp, nonce, encrypted) == plaintext


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_crypto_refusals(direction: str) -> None:
    from inkless.chat.wecom.crypto import CryptoError, WecomCrypto

    plaintext = MESSAGES[0]
    encrypted, signature, timestamp, nonce = seal(direction, plaintext)
    other_corp, other_signature, _, _ = seal(direction, plaintext, corp_id="wwothercorp")
    if direction == "wechatpy->inkless":
        ours = WecomCrypto(TOKEN, AES_KEY, CORP_ID)
        assert not ours.verify("0" * 40, timestamp, nonce, encrypted)
        assert not ours.verify(signature, timestamp, nonce, tamper(encrypted))  # it signs the ciphertext
        for bad in (tamper(encrypted), other_corp, encrypted[:-8], "not base64!", ""):
            with pytest.raises(CryptoError):
                ours.decrypt(bad)
    else:
        theirs = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
        with pytest.raises(InvalidSignatureException):
            theirs.decrypt_message({"Encrypt": encrypted}, "0" * 40, timestamp, nonce)
        with pytest.raises(InvalidSignatureException):
            theirs.decrypt_message({"Encrypt": tamper(encrypted)}, signature, timestamp, nonce)
        ours = WecomCrypto(TOKEN, AES_KEY, CORP_ID)
        forged = tamper(encrypted)
        with pytest.raises(InvalidCorpIdException):
            theirs.decrypt_message({"Encrypt": forged}, ours.signature(timestamp, nonce, forged), timestamp, nonce)
        with pytest.raises(InvalidCorpIdException):
            theirs.decrypt_message({"Encrypt": other_corp}, other_signature, timestamp, nonce)
