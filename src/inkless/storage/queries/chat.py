"""Short messages: what reached a person, and by which channel each copy went."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.storage.models import ShortMessage, ShortMessageRecipient


async def short_messages_to(session: AsyncSession, person_id: int, *, limit: int) -> list[ShortMessage]:
    """The newest short messages to a person, by bot or by mail alike."""
    return list((await session.scalars(
        select(ShortMessage).join(ShortMessageRecipient, ShortMessageRecipient.message_id == ShortMessage.id)
        .where(ShortMessageRecipient.person_id == person_id)
        .order_by(ShortMessage.created_at.desc(), ShortMessage.id.desc()).limit(limit))).all())


async def short_message_channels(session: AsyncSession, message_id: int) -> list[str]:
    """The channel of each copy of a short message ("bot" or "mail")."""
    return list((await session.scalars(select(ShortMessageRecipient.channel)
                                       .where(ShortMessageRecipient.message_id == message_id))).all())
