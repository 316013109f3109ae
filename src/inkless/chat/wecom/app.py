"""The WeCom application inside `inkless serve`: its callback, its commands, its outbox.

WeCom calls `GET /wecom/callback` once to verify the URL (the decrypted `echostr` is the
answer) and `POST /wecom/callback` for every card press and every text a member sends the
application. A callback is believed only when its `msg_signature` is right, its timestamp
within `wecom.replay_window` of now, its (timestamp, nonce) not seen before, and its
ciphertext decrypts to this corp and agent; the member is the one whose userid the org file
gives. A press then does exactly what the same button does in the Telegram bot (the shared
chat actions): the card it was pressed on must be that member's and about that item, and
the item must still be open. Answers go through the chat outbox like every message.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.chat.actions import Actions
from inkless.chat.notify import task_id
from inkless.chat.outbox import ChatOutbox, Pace
from inkless.chat.wecom.api import WecomApi
from inkless.chat.wecom.crypto import CryptoError, WecomCrypto
from inkless.chat.wecom.sender import WecomChannel
from inkless.clock import Clock
from inkless.config import Config
from inkless.directory import PersonInfo
from inkless.mail.texts import text
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import ChatMessage, WecomCallback, WecomConversation
from inkless.storage.upsert import insert_in

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
SIGNATURE = re.compile(r"^[0-9a-fA-F]{40}$")
NONCE = re.compile(r"^[0-9A-Za-z_-]{1,64}$")
# A rejection's reason is awaited this long after the 不同意 press.
REASON_WINDOW = timedelta(hours=24)
COMMANDS = frozenset({"/pending", "待办", "/today", "今日", "今天", "/desk", "办公桌", "/send", "发送", "/help", "帮助"})
ITEM_OF = {"ack": "d", "ap": "a", "apc": "a", "rs": "m", "sm": "s"}


class CallbackRefused(Exception):
    """The callback is not believed: `status` is the HTTP answer (400 malformed, 403 not WeCom's)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Inbound:
    """A decrypted callback: who, what kind, and the fields of its kind."""

    userid: str
    msg_type: str
    event: str
    key: str
    task_id: str
    response_code: str
    content: str
    msg_id: str


def _field(root: Element, name: str, limit: int = 4096) -> str:
    found = root.find(name)
    return (found.text or "").strip()[:limit] if found is not None else ""


def _xml(raw: bytes | str) -> Element:
    try:
        root = ElementTree.fromstring(raw, forbid_dtd=True)
    except (ElementTree.ParseError, DefusedXmlException, ValueError, LookupError, RecursionError):
        # LookupError: an XML declaration naming an encoding Python does not have.
        raise CallbackRefused(400, "the body is not WeCom's XML") from None
    return root


class WecomAwaiting:
    """A WeCom member's next text answers what their conversation row says."""

    def __init__(self, userid: str, now: Callable[[], object]) -> None:
        self.userid, self._now = userid, now

    async def set(self, session: AsyncSession, value: str | None) -> None:
        now = self._now()
        insert = insert_in(session, WecomConversation).values(userid=self.userid.lower(), awaiting=value, updated_at=now)
        await session.execute(insert.on_conflict_do_update(index_elements=["userid"],
                                                           set_={"awaiting": value, "updated_at": now}))


class WecomApp:
    """Verifies and answers callbacks; owns the API client and the WeCom outbox worker."""

    def __init__(self, *, config: Config, sessions: async_sessionmaker[AsyncSession], office: Callable[[], Office],
                 clock: Clock, on_queued: Callable[[], None], claimer: Callable[[], queries.Claimer]) -> None:
        assert config.wecom is not None
        self.config, self.settings = config, config.wecom
        self._sessions, self._office, self._clock, self._on_queued = sessions, office, clock, on_queued
        self.crypto = WecomCrypto(self.settings.token, self.settings.encoding_aes_key, self.settings.corp_id)
        self.api = WecomApi(self.settings)
        self.channel = WecomChannel(self.api, language=config.language)
        self.actions = Actions(config=config, office=office, clock=clock, channel="wecom", confirm=False)
        self.sender = ChatOutbox(channel=self.channel, sessions=sessions, office=office,
                                 pace=Pace(self.settings.max_per_second, self.settings.per_user_interval),
                                 batch=max(1, int(self.settings.max_per_second)), worker_settings=config.worker,
                                 clock=clock, claimer=claimer)

    @property
    def state(self) -> str:
        return self.channel.state

    async def close(self) -> None:
        await self.api.close()

    def _t(self, key: str, **values: object) -> str:
        return text(self.config.language, key, **values)

    # The callback ------------------------------------------------------------------------

    def _check(self, query: dict[str, str], encrypted: str) -> tuple[str, str]:
        signature, timestamp, nonce = (query.get(name, "") for name in ("msg_signature", "timestamp", "nonce"))
        if not SIGNATURE.match(signature) or not timestamp.isdigit() or len(timestamp) > 12 \
                or not NONCE.match(nonce) or not encrypted:
            raise CallbackRefused(400, "msg_signature, timestamp, nonce and the message are required")
        if not self.crypto.verify(signature, timestamp, nonce, encrypted):
            raise CallbackRefused(403, "wrong msg_signature")
        skew = abs(self._clock.now().timestamp() - int(timestamp))
        if skew > self.settings.replay_window:
            raise CallbackRefused(403, f"timestamp {skew:.0f} s away from now")
        return timestamp, nonce

    def _decrypt(self, encrypted: str) -> bytes:
        try:
            return self.crypto.decrypt(encrypted)
        except CryptoError as error:
            raise CallbackRefused(403, f"cannot decrypt: {error}") from None

    async def verify_url(self, query: dict[str, str]) -> str:
        """WeCom's URL verification: the decrypted echostr, if the signature is right, the
        (timestamp, nonce) new, and the plaintext a plain token (never a captured message's XML)."""
        echo = query.get("echostr", "")
        timestamp, nonce = self._check(query, echo)
        plain = self._decrypt(echo)
        if len(plain) > 128 or b"<" in plain:
            raise CallbackRefused(403, "echostr is not a verification string")
        async with self._sessions() as session, session.begin():
            if not await self._first_time(session, timestamp, nonce):
                raise CallbackRefused(403, "this verification was seen before")
        return plain.decode(errors="replace")

    async def callback(self, query: dict[str, str], body: bytes) -> None:
        """A press or a text, believed and acted on (or refused with CallbackRefused)."""
        if len(body) > MAX_BODY:
            raise CallbackRefused(413, "the body is too large for a WeCom callback")
        encrypted = _field(_xml(body), "Encrypt", limit=MAX_BODY)
        timestamp, nonce = self._check(query, encrypted)
        inner = _xml(self._decrypt(encrypted))
        if _field(inner, "ToUserName") != self.settings.corp_id or \
                _field(inner, "AgentID") not in ("", str(self.settings.agent_id)):
            raise CallbackRefused(403, "the message is for another corp or application")
        inbound = Inbound(userid=_field(inner, "FromUserName", 64), msg_type=_field(inner, "MsgType", 32),
                          event=_field(inner, "Event", 64), key=_field(inner, "EventKey", 1024),
                          task_id=_field(inner, "TaskId", 128), response_code=_field(inner, "ResponseCode", 512),
                          content=_field(inner, "Content", 2048), msg_id=_field(inner, "MsgId", 64))
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            if not await self._first_time(session, timestamp, nonce):
                record(session, now=now, actor=f"wecom:{inbound.userid}", action="wecom.replayed",
                       subject_type="wecom", subject_id=inbound.userid, detail={"timestamp": timestamp})
                return
            person = self._office().directory.person_by_wecom(inbound.userid) if inbound.userid else None
            if person is None:
                record(session, now=now, actor=f"wecom:{inbound.userid}", action="wecom.unknown_user",
                       subject_type="wecom", subject_id=inbound.userid, detail={"type": inbound.msg_type})
                if inbound.userid and inbound.msg_type == "text":
                    await self._reply(session, inbound, None, [self._t("wecom_unknown", domain=self.config.domain)])
            elif inbound.msg_type == "event" and inbound.event == "template_card_event":
                await self._press(session, person, inbound)
            elif inbound.msg_type == "text":
                await self._text(session, person, inbound)
        self._on_queued()

    async def _first_time(self, session: AsyncSession, timestamp: str, nonce: str) -> bool:
        """Remember this (timestamp, nonce); False if it was seen within the window (a replay)."""
        now = self._clock.now()
        await session.execute(delete(WecomCallback).where(
            WecomCallback.seen_at < now - timedelta(seconds=2 * self.settings.replay_window)))
        key = hashlib.sha256(f"{timestamp}:{nonce}".encode()).hexdigest()
        insert = insert_in(session, WecomCallback).values(key=key, seen_at=now) \
            .on_conflict_do_nothing(index_elements=["key"])
        return (await session.execute(insert.returning(WecomCallback.key))).scalar() is not None

    async def _press(self, session: AsyncSession, person: PersonInfo, inbound: Inbound) -> None:
        now = self._clock.now()
        card = await session.scalar(select(ChatMessage).where(
            ChatMessage.task_id == inbound.task_id, ChatMessage.channel == "wecom").with_for_update()) \
            if inbound.task_id else None
        kind, _, rest = inbound.key.partition(":")
        about = ITEM_OF.get(kind, "?") + rest.split(":")[0]
        if card is None or (card.userid or "").lower() != inbound.userid.lower() or card.item != about:
            record(session, now=now, actor=person.email, action="wecom.press_refused", subject_type="wecom",
                   subject_id=inbound.userid, detail={"task_id": inbound.task_id, "key": inbound.key})
            await self._reply(session, inbound, person, [self._t("bot_not_yours")])
            return
        if inbound.response_code:
            card.response_code = inbound.response_code  # the fresh single-use code replaces this card's buttons
        answer = await self.actions.press(session, person, inbound.key,
                                          WecomAwaiting(inbound.userid, self._clock.now))
        if not answer.decided:
            await self._reply(session, inbound, person, [answer.follow_up or answer.toast])

    async def _text(self, session: AsyncSession, person: PersonInfo, inbound: Inbound) -> None:
        said = inbound.content.strip()
        words = said.split()
        command = words[0].lower() if words else ""
        conversation = await session.get(WecomConversation, inbound.userid.lower(), with_for_update=True)
        if conversation is not None and conversation.awaiting and conversation.awaiting.startswith("reject:") \
                and command not in COMMANDS:
            # A command word is a command, not the reason (the reason is still awaited).
            awaited, conversation.awaiting = conversation.awaiting, None
            if self._clock.now() - conversation.updated_at <= REASON_WINDOW and said:
                await self._reply(session, inbound, person,
                                  [await self.actions.reason(session, person, awaited, said)])
                return
        if command in ("/pending", "待办"):
            cards = await self.actions.pending(session, person)
            if not cards:
                await self._reply(session, inbound, person, [self._t("bot_pending_none")])
            for index, card in enumerate(cards):
                await self._queue(session, inbound, person, card.text, index=index, item=card.item,
                                  buttons=card.buttons, kind="approval")
        elif command in ("/today", "今日", "今天"):
            await self._reply(session, inbound, person, [await self.actions.today(session, person)])
        elif command in ("/desk", "办公桌"):
            await self._reply(session, inbound, person, [await self.actions.desk(session, person)])
        elif command in ("/send", "发送"):
            await self._reply(session, inbound, person, [await self.actions.send(session, person, words[1:])])
        else:
            await self._reply(session, inbound, person, [self._t("wecom_help")])

    async def _reply(self, session: AsyncSession, inbound: Inbound, person: PersonInfo | None,
                     texts: list[str]) -> None:
        for index, body in enumerate(texts):
            await self._queue(session, inbound, person, body, index=index)

    async def _queue(self, session: AsyncSession, inbound: Inbound, person: PersonInfo | None, body: str, *,
                     index: int, item: str | None = None, buttons: list[list[list[str]]] | None = None,
                     kind: str = "reply") -> None:
        now = self._clock.now()
        session.add(ChatMessage(
            key=f"wecom:{inbound.msg_id or secrets.token_hex(8)}:{index}:{secrets.token_hex(4)}", created_at=now,
            channel="wecom", userid=inbound.userid, person_id=person.id if person else None, kind=kind, item=item,
            text=body, buttons=buttons, task_id=task_id() if buttons else None, action="send", status="queued",
            attempts=0, next_attempt_at=now))
