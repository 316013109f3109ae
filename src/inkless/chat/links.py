"""Linking a chat to a person with a one-time code (`inkless link-code EMAIL`, then `/start CODE`)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.storage.audit import record
from inkless.storage.models import ChatLink, LinkCode

# No 0/O, 1/I/L: codes are read off a screen and typed on a phone.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


async def new_code(session: AsyncSession, person_id: int, *, now: datetime, minutes: float) -> str:
    """A fresh code for the person; it works once, until it expires."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    session.add(LinkCode(person_id=person_id, code_hash=code_hash(code), created_at=now,
                         expires_at=now + timedelta(minutes=minutes)))
    return code


async def link(session: AsyncSession, code: str, chat_id: int, *, now: datetime) -> int | None:
    """Spend the code on this chat: the person it links, or None for an unknown, used or expired code."""
    spent = await session.execute(update(LinkCode).where(
        LinkCode.code_hash == code_hash(code), LinkCode.used_at.is_(None), LinkCode.expires_at > now,
    ).values(used_at=now, used_by_chat=chat_id).returning(LinkCode.person_id))
    person_id = spent.scalar_one_or_none()
    if person_id is None:
        record(session, now=now, actor=f"chat:{chat_id}", action="chat.link_refused", subject_type="chat",
               subject_id=chat_id, detail={})
        return None
    existing = await session.get(ChatLink, chat_id, with_for_update=True)
    if existing is None:
        session.add(ChatLink(chat_id=chat_id, person_id=person_id, linked_at=now))
    else:
        existing.person_id, existing.linked_at, existing.awaiting = person_id, now, None
    record(session, now=now, actor=f"chat:{chat_id}", action="chat.linked", subject_type="person",
           subject_id=person_id, detail={"chat": chat_id})
    return int(person_id)


async def person_of(session: AsyncSession, chat_id: int) -> int | None:
    """The person a chat is linked to, if any."""
    return await session.scalar(select(ChatLink.person_id).where(ChatLink.chat_id == chat_id))


async def unlink(session: AsyncSession, chat_id: int, *, now: datetime) -> bool:
    person_id = await person_of(session, chat_id)
    if person_id is None:
        return False
    await session.execute(delete(ChatLink).where(ChatLink.chat_id == chat_id))
    record(session, now=now, actor=f"chat:{chat_id}", action="chat.unlinked", subject_type="person",
           subject_id=person_id, detail={"chat": chat_id})
    return True
