"""A local stand-in for the WeCom (企业微信) server API, served by aiohttp on a loopback port.

The real qyapi.weixin.qq.com is out of reach in tests, so the WeCom bridge talks to this instead:
the API paths are below ``base_url`` (``/cgi-bin/...``). Every answer is HTTP 200 with
``{"errcode": N, "errmsg": "..."}`` (0 = ok) as the real API gives; an error's errmsg carries the
real API's ", hint: [...], more info at ..." tail, so code must look at errcode, not errmsg.

Implemented: ``GET /cgi-bin/gettoken`` (random tokens, 7200 s, ``expire_tokens()``),
``POST /cgi-bin/message/send`` (text, textcard, template_card of type button_interaction or
text_notice) and ``POST /cgi-bin/message/update_template_card`` (``button.replace_name`` or a
whole ``template_card``). Refused the way the real API refuses them: a wrong corpid (40013) or
secret (40001), a missing (41001), unknown (40014) or expired (42001) access_token, a body that is
not JSON (47001), a wrong agentid (40056), an unknown msgtype (40008), empty text (44004) or text
over 2048 bytes (45002), a card without main_title.title, with a bad or reused task_id or bad
buttons (40058), no known recipient (81013; unknown userids otherwise come back in
``invaliduser``), and a response_code that was never issued or was used already (40103).

Callbacks (WeCom -> the service) are encrypted with wechatpy, an independent implementation of
WeCom's scheme: ``press`` (a template card button), ``send_text`` (a member writes to the app),
``verify_url`` (the URL check when the callback is configured) and ``post_callback`` (a raw
replay) POST or GET ``callback_url``.

Test side: ``calls``, ``sent``, ``updates``, ``card(task_id)`` and ``sent_to`` show what the
service did; ``wait_sent``/``wait_until`` wait on a condition (no polling sleeps); ``fail_next``
injects error answers and ``drop_next`` dropped connections.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from wechatpy.enterprise.crypto import WeChatCrypto  # type: ignore[import-untyped]

from tests.chat.loopback import serve

JSONDict = dict[str, Any]
Query = dict[str, str]

DEFAULT_CORP_ID = "wwtestcorp"
DEFAULT_SECRET = "test-corp-secret"
DEFAULT_AGENT_ID = 1000002
DEFAULT_TOKEN = "testcallbacktoken"
MAX_TEXT = 2048  # bytes of UTF-8
MAX_TASK_ID = 128  # bytes
MAX_BUTTON_KEY = 1024  # bytes
MAX_BUTTONS = 6
TASK_ID = re.compile(r"[0-9a-zA-Z_\-@]+")
CARD_TYPES = frozenset({"button_interaction", "text_notice"})


def random_aes_key() -> str:
    """A fresh EncodingAESKey: 43 base64 characters (the trailing "=" dropped) for 32 bytes."""
    return base64.b64encode(os.urandom(32)).decode()[:-1]


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _nonce() -> str:
    return str(secrets.randbelow(10**10))


class _ApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode, self.errmsg = errcode, errmsg

    def answer(self) -> JSONDict:
        hint = f"{int(time.time())}_{secrets.token_hex(6)}"
        return {"errcode": self.errcode, "errmsg": f"{self.errmsg}, hint: [{hint}], more info at "
                f"https://open.work.weixin.qq.com/devtool/query?e={self.errcode}"}


@dataclass
class _Failure:
    errcode: int | None  # None: drop the connection without an answer (unless raw or delay)
    errmsg: str
    raw: bytes | None = None  # answer exactly these bytes, doing nothing
    delay: float = 0.0  # do the call, then answer only after this many seconds


@dataclass(frozen=True)
class CallbackResult:
    """What a callback POST got back, and exactly what was sent (for a replay via post_callback)."""

    status: int
    text: str
    timestamp: str
    nonce: str
    msg_signature: str
    body: bytes
    plaintext: str  # the XML before encryption
    response_code: str | None = None  # presses only

    @property
    def query(self) -> Query:
        return {"msg_signature": self.msg_signature, "timestamp": self.timestamp, "nonce": self.nonce}


class FakeWeCom:
    """One corp with one self-built app, in-process. See the module docstring for what it covers."""

    def __init__(self, corp_id: str = DEFAULT_CORP_ID, secret: str = DEFAULT_SECRET,
                 agent_id: int = DEFAULT_AGENT_ID, token: str = DEFAULT_TOKEN,
                 encoding_aes_key: str | None = None, users: Iterable[str] = ()) -> None:
        self.corp_id, self.secret, self.agent_id, self.token = corp_id, secret, agent_id, token
        self.encoding_aes_key = encoding_aes_key or random_aes_key()
        self.crypto = WeChatCrypto(token, self.encoding_aes_key, corp_id)
        self.users: set[str] = set(users)
        self.base_url = ""
        self.callback_url = ""  # where press/send_text/verify_url go
        self.calls: list[tuple[str, Query, JSONDict | None]] = []  # (path, query, JSON body) as received
        self.sent: list[JSONDict] = []  # accepted message/send bodies + "msgid", "delivered", "response_code"?
        self.updates: list[JSONDict] = []  # accepted update_template_card bodies
        self.tokens_issued = 0
        self._tokens: set[str] = set()
        self._expired: set[str] = set()
        self._cards: dict[str, JSONDict] = {}  # task_id -> current state
        self._codes: dict[str, str] = {}  # issued response_code -> task_id
        self._used_codes: set[str] = set()
        self._failures: dict[str, deque[_Failure]] = {}
        self._changed = asyncio.Condition()  # wait_until waits here; notified on every call
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._handlers: dict[str, Callable[[Query, JSONDict], JSONDict]] = {
            "gettoken": self._gettoken,
            "message/send": self._send,
            "message/update_template_card": self._update_card,
        }

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Serve on 127.0.0.1 with a free port; base_url is set once this returns."""
        app = web.Application()
        app.add_routes([web.route("*", "/cgi-bin/{path:.+}", self._dispatch)])
        self._runner, self.base_url = await serve(app)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # ---- test control ----------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every token issued so far answers 42001 from now on."""
        self._expired |= self._tokens
        self._tokens.clear()

    def fail_next(self, path_suffix: str, errcode: int, errmsg: str = "system busy", times: int = 1) -> None:
        """The next `times` calls of e.g. "message/send" answer `errcode` and do nothing else."""
        self._queue(path_suffix).extend(_Failure(errcode, errmsg) for _ in range(times))

    def drop_next(self, path_suffix: str, times: int = 1) -> None:
        """The next `times` calls of e.g. "message/send" get the connection closed without an answer.
        An aiohttp client retries an idempotent request (GET: gettoken) once on its own, so it takes
        times=2 for gettoken to fail there."""
        self._queue(path_suffix).extend(_Failure(None, "") for _ in range(times))

    def answer_next_raw(self, path_suffix: str, raw: bytes, times: int = 1) -> None:
        """The next `times` calls answer exactly `raw` (a broken or hostile answer) and do nothing else."""
        self._queue(path_suffix).extend(_Failure(None, "", raw=raw) for _ in range(times))

    def delay_next(self, path_suffix: str, seconds: float, times: int = 1) -> None:
        """The next `times` calls are carried out, but answered only after `seconds` (a slow WeCom
        whose answer may come after the client gave up)."""
        self._queue(path_suffix).extend(_Failure(None, "", delay=seconds) for _ in range(times))

    def _queue(self, path_suffix: str) -> deque[_Failure]:
        path = path_suffix.strip("/").removeprefix("cgi-bin/")
        if path not in self._handlers:
            raise ValueError(f"the stand-in does not implement {path_suffix!r}")
        return self._failures.setdefault(path, deque())

    def card(self, task_id: str) -> JSONDict:
        """A card's state now: {"task_id", "userid", "userids", "buttons" (None once replaced),
        "replace_name", "template_card" (as last sent or updated)}; KeyError if never sent."""
        return dict(self._cards[task_id])

    def sent_to(self, userid: str) -> list[JSONDict]:
        return [m for m in self.sent if userid.lower() in (u.lower() for u in m["delivered"])]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
        """Wait until predicate() holds; re-checked whenever a call arrives or is answered."""
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(predicate)
            except TimeoutError:
                raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}; "
                                     f"calls so far: {[path for path, _, _ in self.calls]}") from None

    async def wait_sent(self, count: int = 1, timeout: float = 10.0) -> list[JSONDict]:
        """Wait until at least `count` messages were accepted in all; returns every one so far."""
        await self.wait_until(lambda: len(self.sent) >= count, timeout, f"{count} sent message(s)")
        return self.sent

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- callbacks: WeCom -> the service ---------------------------------------------

    async def press(self, userid: str, task_id: str, key: str, *, response_code: str | None = None,
                    signature: str | None = None, check: bool = True) -> CallbackResult:
        """`userid` presses the button `key` on the card `task_id`. A new response_code is issued
        (usable once in update_template_card) unless one is given, which is sent as is. With
        check, the card must have been delivered to the user and still show that button
        (KeyError otherwise). signature="..." sends that msg_signature instead of the right one."""
        if check:
            state = self._cards.get(task_id)
            if state is None or userid not in state["userids"]:
                raise KeyError(f"no card {task_id!r} was delivered to {userid!r}")
            if key not in [b.get("key") for b in state["buttons"] or []]:
                raise KeyError(f"card {task_id!r} shows no button {key!r} now")
        if response_code is None:
            response_code = secrets.token_urlsafe(32)
            self._codes[response_code] = task_id
        xml = (f"<xml><ToUserName>{_cdata(self.corp_id)}</ToUserName><FromUserName>{_cdata(userid)}</FromUserName>"
               f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
               f"<Event><![CDATA[template_card_event]]></Event><EventKey>{_cdata(key)}</EventKey>"
               f"<TaskId>{_cdata(task_id)}</TaskId><CardType><![CDATA[button_interaction]]></CardType>"
               f"<ResponseCode>{_cdata(response_code)}</ResponseCode><AgentID>{self.agent_id}</AgentID></xml>")
        return await self._post_encrypted(xml, signature, response_code)

    async def send_text(self, userid: str, content: str, *, signature: str | None = None) -> CallbackResult:
        """`userid` writes `content` to the app."""
        msg_id = 10**18 + secrets.randbelow(9 * 10**18)  # 19 digits
        xml = (f"<xml><ToUserName>{_cdata(self.corp_id)}</ToUserName><FromUserName>{_cdata(userid)}</FromUserName>"
               f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
               f"<Content>{_cdata(content)}</Content><MsgId>{msg_id}</MsgId><AgentID>{self.agent_id}</AgentID></xml>")
        return await self._post_encrypted(xml, signature, None)

    async def verify_url(self) -> tuple[int, str, str]:
        """WeCom's check of a new callback URL: GET with an encrypted echostr, which the service must
        answer decrypted. Returns (HTTP status, body text, the plaintext it should be)."""
        plaintext = str(secrets.randbelow(10**19))
        timestamp, nonce = str(int(time.time())), _nonce()
        encrypt, msg_signature = self._encrypt(plaintext, timestamp, nonce)
        query = {"msg_signature": msg_signature, "timestamp": timestamp, "nonce": nonce, "echostr": encrypt}
        async with self._client().get(self._callback(), params=query) as response:
            return response.status, await response.text(), plaintext

    async def post_callback(self, query: Query, body: bytes) -> tuple[int, str]:
        """POST `body` to callback_url with `query` exactly as given (e.g. a replay); (status, text)."""
        async with self._client().post(self._callback(), params=query, data=body,
                                       headers={"Content-Type": "text/xml"}) as response:
            return response.status, await response.text()

    def decrypt_reply(self, text: str) -> str:
        """The plaintext of an encrypted passive reply (<xml><Encrypt>..<MsgSignature>..) the service
        answered a callback with; wechatpy raises if its signature or corp id is wrong."""
        root = ET.fromstring(text)
        return str(self.crypto.decrypt_message(text, root.findtext("MsgSignature"), root.findtext("TimeStamp"),
                                               root.findtext("Nonce")))

    def _encrypt(self, plaintext: str, timestamp: str, nonce: str) -> tuple[str, str]:
        root = ET.fromstring(self.crypto.encrypt_message(plaintext, nonce, timestamp))
        return root.findtext("Encrypt") or "", root.findtext("MsgSignature") or ""

    async def _post_encrypted(self, xml: str, signature: str | None, response_code: str | None) -> CallbackResult:
        timestamp, nonce = str(int(time.time())), _nonce()
        encrypt, msg_signature = self._encrypt(xml, timestamp, nonce)
        msg_signature = msg_signature if signature is None else signature
        body = (f"<xml><ToUserName>{_cdata(self.corp_id)}</ToUserName><AgentID>{_cdata(str(self.agent_id))}</AgentID>"
                f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>").encode()
        status, text = await self.post_callback(
            {"msg_signature": msg_signature, "timestamp": timestamp, "nonce": nonce}, body)
        await self._notify()
        return CallbackResult(status, text, timestamp, nonce, msg_signature, body, xml, response_code)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the stand-in is not started")
        return self._session

    def _callback(self) -> str:
        if not self.callback_url:
            raise RuntimeError("set callback_url first")
        return self.callback_url

    # ---- HTTP plumbing ---------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        query: Query = dict(request.query)
        raw = await request.read()
        body: JSONDict | None = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            body = parsed if isinstance(parsed, dict) else {"_unparsed": raw.decode(errors="replace")}
        self.calls.append((request.path, query, body))
        await self._notify()  # a waiter may be watching for the call itself
        try:
            handler = self._handlers.get(path)
            if handler is None:
                raise web.HTTPNotFound()
            queue = self._failures.get(path)
            delay = 0.0
            if queue and queue[0].delay:
                delay = queue.popleft().delay
            elif queue:
                failure = queue.popleft()
                if failure.raw is not None:
                    return web.Response(body=failure.raw, content_type="application/json")
                if failure.errcode is None:
                    if request.transport is not None:
                        request.transport.abort()
                    return web.Response()
                raise _ApiError(failure.errcode, failure.errmsg)
            if path != "gettoken":
                self._check_token(query.get("access_token", ""))
                if body is None or "_unparsed" in body:
                    raise _ApiError(47001, "data format error")
            answer = web.json_response({"errcode": 0, "errmsg": "ok", **handler(query, body or {})})
            if delay:
                await asyncio.sleep(delay)  # a slow server, not synchronisation
            return answer
        except _ApiError as error:
            return web.json_response(error.answer())
        finally:
            await self._notify()

    def _check_token(self, token: str) -> None:
        if not token:
            raise _ApiError(41001, "access_token missing")
        if token in self._expired:
            raise _ApiError(42001, "access_token expired")
        if token not in self._tokens:
            raise _ApiError(40014, "invalid access_token")

    def _check_agent(self, body: JSONDict) -> None:
        if str(body.get("agentid", "")) != str(self.agent_id):
            raise _ApiError(40056, "invalid agentid")

    # ---- API methods -----------------------------------------------------------------

    def _gettoken(self, query: Query, _body: JSONDict) -> JSONDict:
        if not query.get("corpid"):
            raise _ApiError(41002, "corpid missing")
        if query["corpid"] != self.corp_id:
            raise _ApiError(40013, "invalid corpid")
        if not query.get("corpsecret"):
            raise _ApiError(41004, "corpsecret missing")
        if query["corpsecret"] != self.secret:
            raise _ApiError(40001, "invalid credential")
        token = secrets.token_urlsafe(48)
        self._tokens.add(token)
        self.tokens_issued += 1
        return {"access_token": token, "expires_in": 7200}

    def _send(self, _query: Query, body: JSONDict) -> JSONDict:
        self._check_agent(body)
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "textcard", "template_card"):
            raise _ApiError(40008, "invalid message type")
        content = body.get(msgtype)
        if not isinstance(content, dict):
            raise _ApiError(40058, f"{msgtype} missing")
        if msgtype == "text":
            text = content.get("content")
            if not isinstance(text, str) or not text:
                raise _ApiError(44004, "empty content")
            if len(text.encode()) > MAX_TEXT:
                raise _ApiError(45002, "content size out of limit")
        elif msgtype == "textcard":
            for field in ("title", "description", "url"):
                if not content.get(field):
                    raise _ApiError(40058, f"textcard.{field} missing")
        else:
            self._check_card(content)
        touser = str(body.get("touser", ""))
        userids = [u for u in touser.split("|") if u]
        # Userids are case-insensitive in WeCom: delivered under the spelling WeCom knows.
        known = {user.lower(): user for user in self.users}
        delivered = sorted(self.users) if touser == "@all" else [known[u.lower()] for u in userids
                                                                 if u.lower() in known]
        if not delivered:
            raise _ApiError(81013, "user & party & tag all invalid")
        answer: JSONDict = {"invaliduser": "|".join(u for u in userids if u.lower() not in known and u != "@all"),
                            "invalidparty": "", "invalidtag": "", "unlicenseduser": "",
                            "msgid": secrets.token_urlsafe(24)}
        record = {**body, "msgid": answer["msgid"], "delivered": delivered}
        if msgtype == "template_card":
            task_id = content.get("task_id")
            if content.get("button_list"):
                answer["response_code"] = record["response_code"] = secrets.token_urlsafe(32)
                self._codes[answer["response_code"]] = str(task_id)
            if task_id:
                self._cards[task_id] = {"task_id": task_id, "userid": delivered[0], "userids": delivered,
                                        "buttons": content.get("button_list"), "replace_name": None,
                                        "template_card": content}
        self.sent.append(record)
        return answer

    def _check_card(self, card: JSONDict) -> None:
        card_type = card.get("card_type")
        if card_type not in CARD_TYPES:
            raise _ApiError(40058, "invalid card_type")
        if not (card.get("main_title") or {}).get("title"):
            raise _ApiError(40058, "main_title.title missing")
        task_id = card.get("task_id")
        if task_id is None and card_type == "button_interaction":
            raise _ApiError(40058, "task_id missing")  # optional for text_notice, as in the real API
        if task_id is not None:
            if not isinstance(task_id, str) or not TASK_ID.fullmatch(task_id) or len(task_id) > MAX_TASK_ID:
                raise _ApiError(40058, "invalid task_id")
            if task_id in self._cards:
                raise _ApiError(40058, "task_id exists")
        if card_type == "button_interaction":
            buttons = card.get("button_list")
            if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
                raise _ApiError(40058, "invalid button_list size")
            for button in buttons:
                if not isinstance(button, dict) or not button.get("text") or not button.get("key"):
                    raise _ApiError(40058, "button text or key missing")
                if len(str(button["key"]).encode()) > MAX_BUTTON_KEY:
                    raise _ApiError(40058, "button key size out of limit")

    def _update_card(self, _query: Query, body: JSONDict) -> JSONDict:
        self._check_agent(body)
        code = str(body.get("response_code", ""))
        if code not in self._codes or code in self._used_codes:
            raise _ApiError(40103, "invalid response_code")
        button, card = body.get("button"), body.get("template_card")
        if isinstance(button, dict):
            if not button.get("replace_name"):
                raise _ApiError(40058, "button.replace_name missing")
            changes: JSONDict = {"buttons": None, "replace_name": button["replace_name"]}
        elif isinstance(card, dict):
            changes = {"buttons": card.get("button_list") or None, "replace_name": None, "template_card": card}
        else:
            raise _ApiError(40058, "button or template_card missing")
        self._used_codes.add(code)
        self.updates.append(body)
        state = self._cards.get(self._codes[code])
        if state is not None:
            state.update(changes)
        return {"invaliduser": "", "invalidparty": "", "invalidtag": "", "unlicenseduser": ""}


@pytest.fixture
async def wecomapi() -> AsyncIterator[FakeWeCom]:
    """A started FakeWeCom (defaults; users "zhangsan" and "lisi"; free port), stopped afterwards."""
    api = FakeWeCom(users=("zhangsan", "lisi"))
    await api.start()
    try:
        yield api
    finally:
        await api.stop()
