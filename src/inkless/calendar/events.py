"""Meetings and schedule entries: create, change, cancel, and the invitations they send.

Every change renders the event's VEVENT text again (feeds assemble stored text), bumps
the calendar generation (feeds' ETags) and, for meetings, re-sends each attendee a
personal iMIP message with a higher SEQUENCE: REQUEST for new and changed meetings,
CANCEL for cancelled ones (RFC 5546 §3.2).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless import notices
from inkless.calendar import ical
from inkless.chat import notify as chat
from inkless.directory import PersonInfo
from inkless.mail import compose
from inkless.mail.texts import text
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import Attendee, Event, EventUnit
from inkless.tokens import Token

# Fields a change may touch; a change of any of them re-sends the invitations.
CHANGEABLE = ("title", "description", "location", "requirements", "start", "end", "all_day", "private")
TIME_FIELDS = ("start", "end", "all_day")


@dataclass(frozen=True)
class EventDraft:
    """What a new event needs, wherever it came from (mail, calendar app, API)."""

    kind: str
    title: str
    start: datetime
    end: datetime
    all_day: bool = False
    location: str | None = None
    description: str = ""
    requirements: str | None = None
    # Unit addresses (or "all") the event is for; empty for one person's schedule entry.
    units: tuple[str, ...] = ()
    person: PersonInfo | None = None
    private: bool = False
    source: str = "mail"
    source_uid: str | None = None
    source_sequence: int | None = None
    inbound_id: int | None = None


def event_text(event: Event, office: Office) -> ical.EventText:
    description = event.description.strip()
    if event.requirements:
        label = text(office.config.language, "requirements")
        description = f"{description}\n\n{label}：{event.requirements}".strip()
    return ical.EventText(
        uid=event.uid, title=event.title, description=description, location=event.location, start=event.start,
        end=event.end, all_day=event.all_day, sequence=event.sequence, status=event.status,
        created=event.created_at, modified=event.updated_at, organizer_cn=event.organizer_name,
        organizer_email=event.organizer, private=event.private)


def render(event: Event, office: Office) -> None:
    """Store the event's feed text: in full, and as "busy" for readers of others' private entries."""
    zone = office.config.zone
    body = event_text(event, office)
    event.ical = ical.vevent_open(body, zone)
    event.ical_busy = ical.vevent_open(body, zone, busy=text(office.config.language, "busy"))


def describe_time(event: Event | EventDraft, office: Office) -> str:
    """The time as people read it: 2026年12月3日（星期四）09:30–11:00."""
    zone, language = office.config.zone, office.config.language
    start, end = event.start.astimezone(zone), event.end.astimezone(zone)
    if language == "zh":
        weekday = "星期" + text(language, "weekdays")[start.weekday()]
        day = f"{start.year}年{start.month}月{start.day}日（{weekday}）"
        if event.all_day:
            last = (end - timedelta(days=1)).date()
            return day if last <= start.date() else f"{day}至{last.month}月{last.day}日"
        other = "" if end.date() == start.date() else f"{end.month}月{end.day}日 "
        return f"{day}{start:%H:%M}–{other}{end:%H:%M}"
    weekday = text(language, "weekdays").split()[start.weekday()]
    day = f"{weekday} {start.day} {start:%b %Y}"
    if event.all_day:
        last = (end - timedelta(days=1)).date()
        return day if last <= start.date() else f"{day} – {last.day} {last:%b}"
    other = "" if end.date() == start.date() else f"{end.day} {end:%b} "
    return f"{day} {start:%H:%M}–{other}{end:%H:%M}"


async def create_event(session: AsyncSession, office: Office, draft: EventDraft, organizer: PersonInfo, *,
                       now: datetime) -> Event:
    """Store the event; a meeting also gets its attendees (units expanded, each person once)
    and their invitations. The organiser gets a notice they can reply to with changes."""
    event = Event(
        uid=f"{uuid.uuid4()}@{office.config.domain}", kind=draft.kind, title=draft.title,
        description=draft.description, location=draft.location, requirements=draft.requirements,
        start=draft.start, end=draft.end, all_day=draft.all_day, organizer=organizer.email,
        organizer_name=organizer.name, unit_id=organizer.home_unit,
        person_id=draft.person.id if draft.person else None, private=draft.private, sequence=0,
        status="CONFIRMED", source=draft.source, source_uid=draft.source_uid,
        source_sequence=draft.source_sequence, inbound_id=draft.inbound_id, created_at=now, updated_at=now)
    session.add(event)
    await session.flush()
    if draft.units:
        await session.execute(insert(EventUnit), [{"event_id": event.id, "unit_id": unit} for unit in draft.units])
    render(event, office)
    await queries.bump_calendar(session, now)
    attendees: list[Attendee] = []
    if draft.kind == "meeting":
        people = office.directory.reach(draft.units, without=organizer.email)
        attendees = [Attendee(event_id=event.id, person_id=p.id, email=p.email, name=p.name,
                              partstat="NEEDS-ACTION") for p in people]
        session.add_all(attendees)
        await session.flush()
        await send_invitations(session, office, event, attendees, change="new", now=now)
    record(session, now=now, actor=organizer.email, action="event.created", subject_type="event",
           subject_id=event.id, detail={"kind": event.kind, "title": event.title, "start": event.start.isoformat(),
                                        "units": list(draft.units), "attendees": len(attendees),
                                        "source": draft.source})
    await _tell_organizer(session, office, event, count=len(attendees), now=now)
    return event


async def attendees_of(session: AsyncSession, event: Event) -> list[Attendee]:
    return list((await session.scalars(select(Attendee).where(Attendee.event_id == event.id)
                                       .order_by(Attendee.id))).all())


async def change_event(session: AsyncSession, office: Office, event: Event, changes: dict[str, object], *,
                       actor: str, now: datetime) -> list[str]:
    """Apply changes; when anything changed, bump SEQUENCE and send the update. A new time
    asks every attendee again (their earlier answer was for the old time)."""
    if event.status == "CANCELLED":
        return []
    changed = [name for name in CHANGEABLE if name in changes and getattr(event, name) != changes[name]]
    if not changed:
        return []
    before = {name: _plain(getattr(event, name)) for name in changed}
    for name in changed:
        setattr(event, name, changes[name])
    event.sequence += 1
    event.updated_at = now
    event.digest_at = None if any(name in TIME_FIELDS for name in changed) else event.digest_at
    render(event, office)
    await queries.bump_calendar(session, now)
    attendees = await attendees_of(session, event)
    if any(name in TIME_FIELDS for name in changed):
        for attendee in attendees:
            attendee.partstat, attendee.responded_at = "NEEDS-ACTION", None
    if event.kind == "meeting":
        await send_invitations(session, office, event, attendees, change="update", now=now)
    record(session, now=now, actor=actor, action="event.changed", subject_type="event", subject_id=event.id,
           detail={"sequence": event.sequence, "before": before,
                   "after": {name: _plain(getattr(event, name)) for name in changed}})
    return changed


async def cancel_event(session: AsyncSession, office: Office, event: Event, *, actor: str, now: datetime) -> bool:
    """Cancel: the event stays (STATUS:CANCELLED) so feeds and calendars show it going."""
    if event.status == "CANCELLED":
        return False
    event.status = "CANCELLED"
    event.sequence += 1
    event.updated_at = event.cancelled_at = now
    render(event, office)
    await queries.bump_calendar(session, now)
    if event.kind == "meeting":
        await send_invitations(session, office, event, await attendees_of(session, event), change="cancel", now=now)
    record(session, now=now, actor=actor, action="event.cancelled", subject_type="event", subject_id=event.id,
           detail={"sequence": event.sequence})
    return True


async def record_answer(session: AsyncSession, office: Office, event: Event, attendee: Attendee, partstat: str,
                        comment: str | None, *, channel: str, actor: str, now: datetime,
                        inbound_id: int | None = None) -> None:
    """Store an attendee's answer (the latest counts), let feeds show it, take chat buttons off."""
    before = attendee.partstat
    attendee.partstat, attendee.comment, attendee.responded_at, attendee.channel = partstat, comment, now, channel
    await queries.bump_calendar(session, now)
    language = office.config.language
    answer = text(language, "bot_accept_button" if partstat == "ACCEPTED" else
                  "bot_decline_button" if partstat == "DECLINED" else "rsvp_tentative")
    await chat.settle(session, f"m{attendee.id}", text(language, "bot_answered", answer=answer, title=event.title),
                      label=text(language, "label_answered", answer=answer), now=now)
    record(session, now=now, actor=actor, action="rsvp." + partstat.lower(), subject_type="attendee",
           subject_id=attendee.id, detail={"event": event.id, "before": before, "comment": comment,
                                           "channel": channel, "inbound": inbound_id})


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


async def send_invitations(session: AsyncSession, office: Office, event: Event, attendees: Sequence[Attendee], *,
                           change: str, now: datetime) -> None:
    """One iMIP message per attendee: the ORGANIZER and Reply-To carry that attendee's
    reply token, so both calendar-app answers and text replies come back to Inkless."""
    config, signer, directory = office.config, office.signer, office.directory
    language, zone = config.language, config.zone
    method = "CANCEL" if change == "cancel" else "REQUEST"
    unit = directory.units.get(event.unit_id)
    from_ = compose.mailbox(unit.name if unit else None, config.local_address(event.unit_id))
    when = describe_time(event, office)
    subject = text(language, {"new": "meeting_request_subject", "update": "meeting_update_subject",
                              "cancel": "meeting_cancel_subject"}[change], title=event.title, when=when)
    readable = invitation_text(event, office, change=change)
    body = event_text(event, office)
    head = ical.calendar_head(zone, method=method)
    messages = []
    for index, attendee in enumerate(attendees):
        if index % 200 == 199:
            await asyncio.sleep(0)  # let SMTP sessions and claim renewal run
        token = Token("reply", "m", attendee.id, attendee.person_id or 0)
        reply_address = signer.address(token)
        vevent = ical.vevent_open(
            replace(body, organizer_email=reply_address), zone, stamp=now)
        calendar = (head + vevent + ical.attendee_line(attendee.name, attendee.email, attendee.partstat,
                                                      rsvp=method == "REQUEST")
                    + ical.VEVENT_TAIL + ical.CALENDAR_TAIL)
        headers = compose.personal_headers(
            from_=from_, to=compose.mailbox(attendee.name, attendee.email), subject=subject,
            message_id=signer.message_id(token, suffix=f"s{event.sequence}"), date=now, reply_to=reply_address,
            extra=[("X-Inkless-Event", str(event.id))])
        messages.append((queries.OutboundCopy(
            kind="invitation", mail_from=signer.address(Token("bounce", "m", attendee.id, attendee.person_id or 0)),
            rcpt=attendee.email, headers=headers, recipient_id=None),
            compose.calendar_body(readable, calendar, method)))
    await queries.enqueue_each(session, messages, now=now)
    await _chat_invitations(session, office, event, attendees, change=change, now=now)


async def _chat_invitations(session: AsyncSession, office: Office, event: Event, attendees: Sequence[Attendee], *,
                            change: str, now: datetime) -> None:
    """Linked attendees also get the invitation by chat, with 参加 / 请假 buttons; an earlier
    invitation's buttons go (its time may be wrong now)."""
    language = office.config.language
    when = describe_time(event, office)
    for attendee in attendees:
        await chat.settle(session, f"m{attendee.id}", text(language, "bot_event_cancelled", title=event.title, when=when)
                          if change == "cancel" else text(language, "bot_invitation", title=event.title, when=when,
                                                          location=event.location or text(language, "none")),
                          label=text(language, "label_event_cancelled" if change == "cancel" else "label_event_changed"),
                          now=now)
    if change == "cancel":
        return
    body = text(language, "bot_invitation", title=event.title, when=when,
                location=event.location or text(language, "none"))
    await chat.notify(session, office, [chat.Notification(
        person_id=attendee.person_id, key=f"invite:{attendee.id}:{event.sequence}", kind="invitation",
        item=f"m{attendee.id}", text=body,
        buttons=[[[text(language, "bot_accept_button"), f"rs:{attendee.id}:{event.sequence}:a"],
                  [text(language, "bot_decline_button"), f"rs:{attendee.id}:{event.sequence}:d"]]])
        for attendee in attendees if attendee.person_id is not None], now=now)


def invitation_text(event: Event, office: Office, *, change: str) -> str:
    """The readable part of an invitation, for people whose client shows no calendar card."""
    language = office.config.language
    heading = {"new": "meeting_heading", "update": "meeting_update_heading", "cancel": "meeting_cancel_heading"}
    organizer = office.directory.person(event.organizer)
    unit = office.directory.units.get(event.unit_id)
    lines = [text(language, heading[change]), "",
             f"{text(language, 'meeting')}：{event.title}",
             f"{text(language, 'time')}：{describe_time(event, office)}"]
    if event.location:
        lines.append(f"{text(language, 'location')}：{event.location}")
    if event.requirements:
        lines.append(f"{text(language, 'requirements')}：{event.requirements}")
    who = organizer.display if organizer else event.organizer
    lines.append(f"{text(language, 'organizer')}：{who}" + (f"（{unit.name}）" if unit else ""))
    if event.description.strip():
        lines += ["", event.description.strip()]
    if change != "cancel":
        lines += ["", "--", text(language, "rsvp_hint")]
    return "\n".join(lines) + "\n"


async def _tell_organizer(session: AsyncSession, office: Office, event: Event, *, count: int, now: datetime) -> None:
    """The organiser's confirmation; replying to it changes or cancels the event."""
    organizer = office.directory.person(event.organizer)
    if organizer is None:
        return
    language = office.config.language
    token = Token("reply", "e", event.id, organizer.id)
    when = describe_time(event, office)
    location = event.location or text(language, "none")
    if event.kind == "meeting":
        subject = text(language, "meeting_sent_subject", title=event.title, when=when)
        body = text(language, "meeting_sent_body", title=event.title, count=count, when=when, location=location,
                    id=event.id)
    else:
        whose = await _whose(session, office, event)
        subject = text(language, "schedule_sent_subject", title=event.title, when=when)
        body = text(language, "schedule_sent_body", title=event.title, whose=whose, when=when, location=location)
    await notices.send(session, office, notices.Notice(
        kind="event_notice", unit_id=event.unit_id, to_email=organizer.email, to_name=organizer.name,
        subject=subject, text=body, message_id=office.signer.message_id(token, suffix="sent"),
        mail_from=office.signer.address(Token("bounce", "e", event.id, organizer.id)),
        reply_to=office.signer.address(token)), now=now)


async def _whose(session: AsyncSession, office: Office, event: Event) -> str:
    """Whose schedule an entry is on: the person, or the units it was addressed to."""
    if event.person_id is not None:
        person = office.directory.person_by_id(event.person_id)
        return person.display if person else str(event.person_id)
    units = (await session.scalars(select(EventUnit.unit_id).where(EventUnit.event_id == event.id))).all()
    names = [office.directory.units[u].name if u in office.directory.units else u for u in units]
    return "、".join(names)
