"""Public short messages (公共短消息): by chat to people with a channel, by mail to the rest.

A short message comes from `[短消息]` mail, `POST /api/v1/messages` or a chat's `/send`.
Each recipient gets a row recording the channel (`bot`, `wecom`, `bot+wecom`, `mail`) and
sent / read / failed, like a document's receipt table. A person every chat channel failed
for (WeCom does not know their userid, they blocked the bot) gets it by mail after all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.addresses import fold_address
from inkless.chat.notify import Address, Notification, addresses, notify
from inkless.directory import PersonInfo
from inkless.mail import compose
from inkless.mail.texts import text as wording
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import ShortMessage, ShortMessageRecipient
from inkless.tokens import Token

MAX_LENGTH = 500


class ShortMessageError(ValueError):
    """The message cannot be sent; str() says why, `field` which input (text or to) is wrong."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def check_text(body: str, language: str) -> str:
    body = body.strip()
    if not body:
        raise ShortMessageError(wording(language, "short_empty"), field="text")
    if len(body) > MAX_LENGTH:
        raise ShortMessageError(wording(language, "short_too_long", count=len(body)), field="text")
    return body


def resolve(office: Office, to: Sequence[str], *, without: str) -> list[PersonInfo]:
    """Unit ids (or `all`) expanded and emails looked up, each person once, without the sender."""
    people: dict[str, PersonInfo] = {}
    for entry in to:
        entry = fold_address(entry)
        if "@" in entry:
            person = office.directory.person(entry)
            if person is None:
                raise ShortMessageError(f"{entry} is not a member of the organisation", field="to")
            found = [person]
        elif entry == "all" or entry in office.directory.units:
            found = office.directory.reach([entry])
        else:
            raise ShortMessageError(f"unknown unit {entry}", field="to")
        for person in found:
            if person.email != without:
                people.setdefault(person.email, person)
    return list(people.values())


async def send_short_message(session: AsyncSession, office: Office, sender: PersonInfo, to: Sequence[str],
                             body: str, *, source: str, now: datetime) -> ShortMessage:
    """Store the message and queue every copy: bot messages for linked people, mail for the rest."""
    language = office.config.language
    body = check_text(body, language)
    people = resolve(office, to, without=sender.email)
    message = ShortMessage(sender=sender.email, unit_id=sender.home_unit, text=body,
                           addressed_to="\n".join(to), source=source, created_at=now)
    session.add(message)
    await session.flush()
    where = await addresses(session, office, (p.id for p in people))
    result = await session.execute(
        insert(ShortMessageRecipient).returning(ShortMessageRecipient.id, sort_by_parameter_order=True),
        [{"message_id": message.id, "person_id": p.id, "email": p.email, "name": p.name,
          "channel": channel_name(where.get(p.id, [])), "failed": False} for p in people]) if people else None
    ids = [row[0] for row in result.all()] if result is not None else []
    by_chat = [(p, rid) for p, rid in zip(people, ids, strict=True) if p.id in where]
    by_mail = [(p, rid) for p, rid in zip(people, ids, strict=True) if p.id not in where]
    chat_text = wording(language, "bot_short_message", sender=sender.display, text=body)
    await notify(session, office, [Notification(
        person_id=p.id, key=f"short:{rid}", kind="short_message", item=f"s{rid}", text=chat_text,
        buttons=[[[wording(language, "bot_read"), f"sm:{rid}"]]]) for p, rid in by_chat], now=now)
    await _mail(session, office, message, sender, by_mail, now=now)
    record(session, now=now, actor=sender.email, action="short_message.sent", subject_type="short_message",
           subject_id=message.id, detail={"to": list(to), "chat": len(by_chat), "mail": len(by_mail),
                                          "source": source})
    return message


def channel_name(where: Sequence[Address]) -> str:
    """How a copy travels: bot (Telegram), wecom, both (bot+wecom), or mail."""
    names = [name for name, channel in (("bot", "telegram"), ("wecom", "wecom"))
             if any(address.channel == channel for address in where)]
    return "+".join(names) or "mail"


async def by_mail_instead(session: AsyncSession, office: Office, recipient: ShortMessageRecipient, reason: str, *,
                          now: datetime) -> None:
    """Every chat channel failed this recipient: the message goes by mail, and the copy says why."""
    message = await session.get(ShortMessage, recipient.message_id)
    sender = office.directory.person(message.sender) if message else None
    person = office.directory.person(recipient.email)
    recipient.channel, recipient.reason = "mail", reason
    if message is None or sender is None or person is None:
        recipient.failed = True
        return
    await _mail(session, office, message, sender, [(person, recipient.id)], now=now)
    record(session, now=now, actor="inkless", action="short_message.by_mail", subject_type="short_message",
           subject_id=message.id, detail={"recipient": recipient.id, "reason": reason})


async def _mail(session: AsyncSession, office: Office, message: ShortMessage, sender: PersonInfo,
                people: list[tuple[PersonInfo, int]], *, now: datetime) -> None:
    if not people:
        return
    config, signer = office.config, office.signer
    unit = office.directory.units.get(sender.home_unit)
    head = message.text.splitlines()[0][:30]
    subject = wording(config.language, "short_mail_subject", sender=sender.display, head=head)
    body_id = await queries.add_outbox_body(session, compose.body_entity(message.text + "\n"), now=now)
    copies = [queries.OutboundCopy(
        kind="short_message", mail_from=signer.address(Token("bounce", "n", message.id, person.id)), rcpt=person.email,
        headers=compose.personal_headers(
            from_=compose.mailbox(unit.name if unit else None, config.local_address(sender.home_unit)),
            to=compose.mailbox(person.name, person.email), subject=subject,
            message_id=f"<inkless.s{recipient_id}@{config.domain}>", date=now,
            reply_to=sender.email, extra=[("X-Inkless-Short-Message", str(message.id))]),
        recipient_id=recipient_id) for person, recipient_id in people]
    await queries.enqueue(session, copies, body_id=body_id, now=now)
