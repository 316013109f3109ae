"""Before a meeting, its organiser gets one digest of the answers, above all who has not answered."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inkless import notices
from inkless.calendar.events import attendees_of, describe_time
from inkless.mail.texts import text
from inkless.office import Office
from inkless.storage.audit import record
from inkless.storage.models import Event
from inkless.tokens import Token


def digest_due(event: Event, before: timedelta) -> datetime:
    """`before` the start; for a meeting called at shorter notice, halfway from invitation to start."""
    return max(event.start - before, event.updated_at + (event.start - event.updated_at) / 2)


async def send_rsvp_digests(session: AsyncSession, office: Office, *, now: datetime) -> int:
    """Send the digests that fell due; each is claimed first, so no two processes send one twice."""
    before = timedelta(hours=office.config.calendar.digest_before_hours)
    candidates = (await session.scalars(select(Event).where(
        Event.kind == "meeting", Event.status == "CONFIRMED", Event.digest_at.is_(None),
        Event.start > now, Event.start <= now + before))).all()
    sent = 0
    for event in candidates:
        if now < digest_due(event, before):
            continue
        claimed = await session.execute(update(Event).where(Event.id == event.id, Event.digest_at.is_(None))
                                        .values(digest_at=now))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        await _send(session, office, event, now=now)
        sent += 1
    return sent


async def _send(session: AsyncSession, office: Office, event: Event, *, now: datetime) -> None:
    organizer = office.directory.person(event.organizer)
    attendees = await attendees_of(session, event)
    if organizer is None or not attendees:
        return
    language = office.config.language
    groups: dict[str, list[str]] = {"NEEDS-ACTION": [], "ACCEPTED": [], "DECLINED": [], "TENTATIVE": []}
    for attendee in attendees:
        label = attendee.name or attendee.email
        if attendee.partstat == "DECLINED" and attendee.comment:
            label += f"（{attendee.comment.splitlines()[0][:60]}）"
        groups.setdefault(attendee.partstat, []).append(label)
    none = text(language, "none")
    when = describe_time(event, office)
    body = text(language, "rsvp_digest_body", title=event.title, when=when, total=len(attendees),
                pending_count=len(groups["NEEDS-ACTION"]), pending="、".join(groups["NEEDS-ACTION"]) or none,
                accepted_count=len(groups["ACCEPTED"]), accepted="、".join(groups["ACCEPTED"]) or none,
                declined_count=len(groups["DECLINED"]), declined="、".join(groups["DECLINED"]) or none,
                tentative_count=len(groups["TENTATIVE"]), tentative="、".join(groups["TENTATIVE"]) or none)
    token = Token("reply", "e", event.id, organizer.id)
    await notices.send(session, office, notices.Notice(
        kind="rsvp_digest", unit_id=event.unit_id, to_email=organizer.email, to_name=organizer.name,
        subject=text(language, "rsvp_digest_subject", title=event.title, when=when), text=body,
        message_id=office.signer.message_id(token, suffix=f"digest{event.sequence}"),
        mail_from=office.signer.address(Token("bounce", "e", event.id, organizer.id)),
        reply_to=office.signer.address(token)), now=now)
    record(session, now=now, actor="inkless", action="event.digest", subject_type="event", subject_id=event.id,
           detail={"pending": len(groups["NEEDS-ACTION"]), "total": len(attendees)})
