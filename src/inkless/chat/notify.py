"""Queue chat messages for people with a channel, and take the buttons off once an item is decided.

A person is reached on every channel they have: each Telegram chat they linked, and WeCom
when the org file gives their userid and the WeCom application is configured. Everything
here writes rows of the chat outbox in the caller's transaction: a notification exists
exactly when the change it tells of is committed, and each channel's worker sends it
afterwards. Each notification has a key, so queuing it twice sends it once.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.office import Office
from inkless.storage.models import ChatLink, ChatMessage
from inkless.storage.upsert import insert_in

# Button rows: [[label, callback data], …] per row; callback data is at most 64 bytes.
Buttons = list[list[list[str]]]


@dataclass(frozen=True)
class Address:
    """Where one chat message goes: a Telegram chat, or a WeCom member."""

    channel: str
    chat_id: int | None = None
    userid: str | None = None

    @property
    def suffix(self) -> str:
        return f"{self.chat_id}" if self.channel == "telegram" else f"w:{self.userid}"


@dataclass(frozen=True)
class Notification:
    """One bot message to one person, if they have linked a chat."""

    person_id: int
    key: str
    kind: str
    text: str
    item: str | None = None
    buttons: Buttons | None = None


async def linked_chats(session: AsyncSession, person_ids: Iterable[int]) -> dict[int, list[int]]:
    """person id → the chats linked to them."""
    ids = list(set(person_ids))
    chats: dict[int, list[int]] = {}
    for start in range(0, len(ids), 500):
        rows = await session.execute(select(ChatLink.person_id, ChatLink.chat_id)
                                     .where(ChatLink.person_id.in_(ids[start:start + 500])))
        for person_id, chat_id in rows:
            chats.setdefault(person_id, []).append(chat_id)
    return chats


def task_id() -> str:
    """A WeCom card's task id: random (unique per application for ever, as WeCom requires), and
    stored before the card is sent, so a press however quick finds its card."""
    return f"ink-{secrets.token_hex(12)}"


async def addresses(session: AsyncSession, office: Office, person_ids: Iterable[int]) -> dict[int, list[Address]]:
    """person id → every chat address they have on a channel this office runs (none: mail only).
    Chats linked while a bot was configured are no address once it is not: nothing would send."""
    ids = set(person_ids)
    found: dict[int, list[Address]] = {}
    if office.config.telegram.token:
        for person_id, chats in (await linked_chats(session, ids)).items():
            found[person_id] = [Address("telegram", chat_id=chat_id) for chat_id in chats]
    if office.config.wecom is not None:
        for person_id in ids:
            person = office.directory.person_by_id(person_id)
            if person is not None and person.wecom:
                found.setdefault(person_id, []).append(Address("wecom", userid=person.wecom))
    return found


async def notify(session: AsyncSession, office: Office, notifications: Sequence[Notification], *,
                 now: datetime, where: dict[int, list[Address]] | None = None) -> set[int]:
    """Queue each notification to every address its person has (`where`, when the caller has
    already looked them up with `addresses`); returns the people reached."""
    if not notifications:
        return set()
    if where is None:
        where = await addresses(session, office, (n.person_id for n in notifications))
    rows = [{"key": f"{n.key}@{address.suffix}", "created_at": now, "channel": address.channel,
             "chat_id": address.chat_id, "userid": address.userid, "person_id": n.person_id,
             "kind": n.kind, "item": n.item, "text": n.text, "buttons": n.buttons, "action": "send",
             "task_id": task_id() if n.buttons and address.channel == "wecom" else None,
             "status": "queued", "attempts": 0, "next_attempt_at": now}
            for n in notifications for address in where.get(n.person_id, [])]
    for start in range(0, len(rows), 500):
        await session.execute(_insert(session).on_conflict_do_nothing(index_elements=["key"]), rows[start:start + 500])
    return {n.person_id for n in notifications if n.person_id in where}


async def settle(session: AsyncSession, item: str, text: str, *, label: str, now: datetime) -> None:
    """The item was decided: messages about it lose their buttons and say so.

    Not yet sent: changed in place, so no stale button ever goes out. Already sent: an edit
    is queued for each (a Telegram message gets `text`; a WeCom card's buttons become the
    short `label`, e.g. 已同意).
    """
    await session.execute(update(ChatMessage).where(
        ChatMessage.item == item, ChatMessage.action == "send", ChatMessage.status == "queued",
        ChatMessage.buttons.is_not(None)).values(text=text, buttons=None))
    sent = (await session.execute(select(
        ChatMessage.id, ChatMessage.channel, ChatMessage.chat_id, ChatMessage.userid, ChatMessage.person_id).where(
        ChatMessage.item == item, ChatMessage.action == "send", ChatMessage.buttons.is_not(None),
        ChatMessage.status.in_(("sending", "sent"))))).all()
    for message_id, channel, chat_id, userid, person_id in sent:
        await session.execute(_insert(session).values(
            key=f"edit:{message_id}", created_at=now, channel=channel, chat_id=chat_id, userid=userid,
            person_id=person_id, kind="edit", item=item, text=text, label=label[:64], buttons=None, action="edit",
            target=message_id, status="queued", attempts=0,
            next_attempt_at=now).on_conflict_do_nothing(index_elements=["key"]))
    if sent:
        # Settled once: the sent message keeps its Telegram id, the edit carries the new text.
        await session.execute(update(ChatMessage).where(ChatMessage.id.in_([row[0] for row in sent]))
                              .values(buttons=None))


def _insert(session: AsyncSession) -> postgresql.Insert | sqlite.Insert:
    return insert_in(session, ChatMessage)
