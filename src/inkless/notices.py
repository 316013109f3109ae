"""Queue one mail to one person: notices, requests, reminders, automatic answers (the
pipeline's answers to a person's mail go through handlers/answer.py, which caps them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.chat import notify as chat
from inkless.mail import compose
from inkless.mail.parse import ParsedAttachment
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.models import AutoAnswer


@dataclass(frozen=True)
class Notice:
    """A mail from a unit's address to one person."""

    kind: str
    unit_id: str
    to_email: str
    to_name: str | None
    subject: str
    text: str
    message_id: str
    mail_from: str
    reply_to: str | None = None
    references: str | None = None
    # RFC 3834: answers to a person's mail are auto-replied, everything else auto-generated.
    auto_replied: bool = False
    attachments: Sequence[ParsedAttachment] = ()
    # 特急 / 加急: the subject is marked and the mail flagged important.
    urgency: str | None = None


async def send(session: AsyncSession, office: Office, notice: Notice, *, now: datetime) -> None:
    """Queue the notice in the current transaction (it goes out when that commits)."""
    unit = office.directory.units.get(notice.unit_id)
    extra = []
    if notice.references:
        extra += [("In-Reply-To", notice.references), ("References", notice.references)]
    if notice.auto_replied:
        extra.append(("X-Auto-Response-Suppress", "All"))
    extra += compose.urgency_headers(notice.urgency)
    headers = compose.personal_headers(
        from_=compose.mailbox(unit.name if unit else None, office.config.local_address(notice.unit_id)),
        to=compose.mailbox(notice.to_name, notice.to_email),
        subject=compose.urgent_subject(notice.subject, notice.urgency),
        message_id=notice.message_id,
        date=now,
        reply_to=notice.reply_to,
        extra=extra,
        auto_submitted="auto-replied" if notice.auto_replied else "auto-generated",
    )
    body_id = await queries.add_outbox_body(session, compose.body_entity(notice.text, notice.attachments), now=now)
    await queries.enqueue(session, [queries.OutboundCopy(kind=notice.kind, mail_from=notice.mail_from,
                                                         rcpt=notice.to_email, headers=headers, recipient_id=None)],
                          body_id=body_id, now=now)


async def may_answer(session: AsyncSession, sender: str, *, kind: str, now: datetime, limit: int) -> bool:
    """Whether another automatic answer to sender fits in the hourly cap; if so, count it."""
    sent = await session.scalar(select(func.count()).select_from(AutoAnswer).where(
        AutoAnswer.sender == sender, AutoAnswer.at > now - timedelta(hours=1)))
    if (sent or 0) >= limit:
        return False
    session.add(AutoAnswer(sender=sender, at=now, kind=kind))
    return True


async def tell(session: AsyncSession, office: Office, told: Sequence[tuple[Notice, chat.Notification | None]], *,
               now: datetime) -> None:
    """Tell people something by mail, and the same by chat to those who linked one: each
    notice is queued as mail, and its chat notification (if any) for every chat its person
    linked, all in the caller's transaction."""
    for notice, _ in told:
        await send(session, office, notice, now=now)
    await chat.notify(session, office, [notification for _, notification in told if notification is not None], now=now)
