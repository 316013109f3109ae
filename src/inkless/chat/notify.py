"""Queue bot messages for linked people, and take the buttons off once an item is decided.

Everything here writes rows of the chat outbox in the caller's transaction: a notification
exists exactly when the change it tells of is committed, and the chat worker sends it
afterwards. Each notification has a key, so queuing it twice sends it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.storage.models import ChatLink, ChatMessage

# Button rows: [[label, callback data], …] per row; callback data is at most 64 bytes.
Buttons = list[list[list[str]]]


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


async def notify(session: AsyncSession, notifications: Sequence[Notification], *, now: datetime) -> set[int]:
    """Queue each notification to every chat its person linked; returns the people reached."""
    if not notifications:
        return set()
    chats = await linked_chats(session, (n.person_id for n in notifications))
    rows = [{"key": f"{n.key}@{chat_id}", "created_at": now, "chat_id": chat_id, "person_id": n.person_id,
             "kind": n.kind, "item": n.item, "text": n.text, "buttons": n.buttons, "action": "send",
             "status": "queued", "attempts": 0, "next_attempt_at": now}
            for n in notifications for chat_id in chats.get(n.person_id, [])]
    for start in range(0, len(rows), 500):
        await session.execute(_insert(session).on_conflict_do_nothing(index_elements=["key"]), rows[start:start + 500])
    return {n.person_id for n in notifications if n.person_id in chats}


async def settle(session: AsyncSession, item: str, text: str, *, now: datetime) -> None:
    """The item was decided: messages about it lose their buttons and say so.

    Not yet sent: changed in place, so no stale button ever goes out. Already sent: an edit
    is queued for each.
    """
    await session.execute(update(ChatMessage).where(
        ChatMessage.item == item, ChatMessage.action == "send", ChatMessage.status == "queued",
        ChatMessage.buttons.is_not(None)).values(text=text, buttons=None))
    sent = (await session.execute(select(ChatMessage.id, ChatMessage.chat_id, ChatMessage.person_id).where(
        ChatMessage.item == item, ChatMessage.action == "send", ChatMessage.buttons.is_not(None),
        ChatMessage.status.in_(("sending", "sent"))))).all()
    for message_id, chat_id, person_id in sent:
        await session.execute(_insert(session).values(
            key=f"edit:{message_id}", created_at=now, chat_id=chat_id, person_id=person_id, kind="edit", item=item,
            text=text, buttons=None, action="edit", target=message_id, status="queued", attempts=0,
            next_attempt_at=now).on_conflict_do_nothing(index_elements=["key"]))
    if sent:
        # Settled once: the sent message keeps its Telegram id, the edit carries the new text.
        await session.execute(update(ChatMessage).where(ChatMessage.id.in_([row[0] for row in sent]))
                              .values(buttons=None))


def _insert(session: AsyncSession) -> postgresql.Insert | sqlite.Insert:
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(ChatMessage)
