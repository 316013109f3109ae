"""Meetings by mail: invitations and `[会议]` mail in, answers back (schedules.py: `[日程]`).

In: an invitation from a calendar app (its text/calendar part; the organiser's later
updates and cancellations find the event by their UID), or plain mail with `时间：`,
`地点：`, `要求：` lines. A time line that cannot be read is answered, naming the line,
and nothing is sent on a guess.

Back: attendees answer on their personal reply address, by iTIP REPLY from their calendar
app or by a line of text (参加 / 请假 … / 待定); the organiser replies to the confirmation
to change the time or place, or to cancel.
"""

from __future__ import annotations

import unicodedata

from sqlalchemy import select

from inkless.calendar import events
from inkless.calendar.fields import Fields, read_fields
from inkless.calendar.ical import PARTSTATS, CalendarItem, read_calendar
from inkless.calendar.rsvp import read_answer
from inkless.calendar.when import Span, WhenError, parse_when
from inkless.directory import PersonInfo
from inkless.errors import Discard, Quarantine
from inkless.handlers.answer import answer
from inkless.handlers.authorship import check_reply
from inkless.handlers.context import Context
from inkless.mail.reply_text import reply_text
from inkless.mail.texts import text
from inkless.storage.audit import record
from inkless.storage.models import Attendee, Event
from inkless.tokens import Token

CANCEL_WORDS = ("取消", "撤销", "cancel", "cancelled", "canceled")
# Calendar-app methods that bring or change an event (PUBLISH: an exported event; None: an
# .ics file without METHOD, e.g. attached by hand).
OFFERING_METHODS = (None, "REQUEST", "PUBLISH", "ADD")


class EventMail:
    """Mail to unit addresses that becomes an event of this handler's kind: a calendar app's
    invitation, or a mail with 时间/地点 lines. MeetingMail and ScheduleMail (schedules.py) are
    the two kinds."""

    kind: str
    name: str

    async def process(self, ctx: Context) -> None:
        sender = ctx.sender
        assert sender is not None, "the sender check runs first"
        item = read_calendar(ctx.message, ctx.config.zone)
        if item is not None:
            await self._from_calendar(ctx, sender, item)
            return
        fields = read_fields(ctx.message.text)
        draft = await self._draft_from_text(ctx, sender, fields)
        if draft is not None:
            await events.create_event(ctx.session, ctx.office, draft, sender, now=ctx.clock.now())

    async def _draft_from_text(self, ctx: Context, sender: PersonInfo, fields: Fields) -> events.EventDraft | None:
        language, title = ctx.config.language, ctx.subject.title or ctx.message.subject
        span = await read_time(ctx, sender, fields, title)
        if span is None:
            return None
        allowed, person = await self._whose(ctx, sender, fields, title)
        if not allowed:
            return None
        return events.EventDraft(
            kind=self.kind, title=title or text(language, "meeting"), start=span.start, end=span.end,
            all_day=span.all_day, location=fields.location, description=fields.rest,
            requirements=fields.requirements, units=() if person else ctx.routes.units, person=person,
            private=fields.private, source="mail", inbound_id=ctx.inbound.id)

    async def _whose(self, ctx: Context, sender: PersonInfo, fields: Fields,
                     title: str) -> tuple[bool, PersonInfo | None]:
        """Whether the event may be made, and the one person whose schedule it is on (None:
        the addressed units'). A meeting is always the units'."""
        return True, None

    async def _from_calendar(self, ctx: Context, sender: PersonInfo, item: CalendarItem) -> None:
        """A calendar app's invitation: new, an update of one it sent before, or a cancellation."""
        now = ctx.clock.now()
        if item.method not in OFFERING_METHODS and item.method != "CANCEL":
            raise Discard(f"iTIP {item.method} to a unit address is not an invitation")
        existing = None
        if item.uid:
            existing = await ctx.session.scalar(select(Event).where(
                Event.organizer == sender.email, Event.source_uid == item.uid).with_for_update())
        if item.method == "CANCEL" or item.status == "CANCELLED":
            if existing is None:
                raise Discard(f"cancellation of an unknown event (UID {item.uid})")
            await events.cancel_event(ctx.session, ctx.office, existing, actor=sender.email, now=now)
            existing.source_sequence = item.sequence
            return
        title = item.title or ctx.subject.title or ctx.message.subject
        if existing is not None:
            if existing.source_sequence is not None and item.sequence < existing.source_sequence:
                raise Discard(f"invitation SEQUENCE {item.sequence} is older than {existing.source_sequence}")
            existing.source_sequence = item.sequence
            await events.change_event(ctx.session, ctx.office, existing, {
                "title": title, "start": item.start, "end": item.end, "all_day": item.all_day,
                "location": item.location, "description": item.description}, actor=sender.email, now=now)
            return
        draft = events.EventDraft(
            kind=self.kind, title=title, start=item.start, end=item.end, all_day=item.all_day,
            location=item.location, description=item.description or ctx.message.text.strip(),
            units=ctx.routes.units, source="calendar", source_uid=item.uid or None, source_sequence=item.sequence,
            inbound_id=ctx.inbound.id)
        await events.create_event(ctx.session, ctx.office, draft, sender, now=now)


async def read_time(ctx: Context, sender: PersonInfo, fields: Fields, title: str) -> Span | None:
    """The span of the time line, or None after telling the sender which line was unreadable."""
    language = ctx.config.language
    now = ctx.clock.now()
    if fields.time is None:
        line, reason = text(language, "event_missing_time"), "no time line"
    else:
        try:
            return parse_when(fields.time, zone=ctx.config.zone, today=now.astimezone(ctx.config.zone).date())
        except WhenError as error:
            line, reason = fields.time_line or fields.time, str(error)
    record(ctx.session, now=now, actor=sender.email, action="event.unreadable", subject_type="inbound",
           subject_id=ctx.inbound.id, detail={"line": line, "reason": reason})
    await answer(ctx, sender, "event_unreadable", text(language, "event_unreadable_subject", title=title),
                 text(language, "event_unreadable_body", line=line, reason=reason))
    return None


async def handle_rsvp(ctx: Context, token: Token) -> None:
    """An attendee's answer: iTIP REPLY from a calendar app, or 参加 / 请假 / 待定 in text."""
    session, now, language = ctx.session, ctx.clock.now(), ctx.config.language
    attendee = await session.get(Attendee, token.item, with_for_update=True)
    if attendee is None or (attendee.person_id or 0) != token.person:
        raise Quarantine(f"token names no invitation {token.item}")
    event = await session.get(Event, attendee.event_id, with_for_update=True)
    assert event is not None
    author = check_reply(ctx, attendee.email, f"invitation {attendee.id}")
    item = read_calendar(ctx.message, ctx.config.zone)
    if item is not None and item.method == "REPLY":
        if item.uid != event.uid:
            raise Discard(f"iTIP REPLY for UID {item.uid}, but the invitation was for {event.uid}")
        partstat = dict(item.attendees).get(attendee.email)
        if partstat is None and len(item.attendees) == 1:
            partstat = item.attendees[0][1]
        if partstat not in PARTSTATS or partstat == "NEEDS-ACTION":
            raise Discard(f"iTIP REPLY without an answer for {attendee.email} (PARTSTAT {partstat})")
        comment = item.comment or reply_text(ctx.message.text, ctx.message.html) or None
        channel = "itip"
    else:
        person = ctx.directory.person(author)
        if event.status == "CANCELLED":
            # Told, not discarded: a discard would roll the answer back with everything else.
            record(session, now=now, actor=author, action="rsvp.after_cancel", subject_type="attendee",
                   subject_id=attendee.id, detail={"inbound": ctx.inbound.id})
            if person is not None:
                at = (event.cancelled_at or now).astimezone(ctx.config.zone).strftime("%Y-%m-%d %H:%M")
                await answer(ctx, person, "event_cancelled", text(language, "event_cancelled_subject", title=event.title),
                             text(language, "event_cancelled_body", at=at), token)
            return
        found = read_answer(reply_text(ctx.message.text, ctx.message.html))
        if found.partstat is None:
            record(session, now=now, actor=author, action="rsvp.unclear", subject_type="attendee",
                   subject_id=attendee.id, detail={"inbound": ctx.inbound.id, "first_line": found.first_line})
            if person is not None:
                await answer(ctx, person, "rsvp_clarification",
                             text(language, "rsvp_unclear_subject", title=event.title),
                             text(language, "rsvp_unclear_body", line=found.first_line[:200]), token)
            return
        partstat, comment, channel = found.partstat, found.comment, "mail"
    if event.status == "CANCELLED":
        raise Discard(f"answer to cancelled event {event.id}")
    await events.record_answer(ctx.session, ctx.office, event, attendee, partstat, comment, channel=channel,
                               actor=author, now=now, inbound_id=ctx.inbound.id)


async def handle_organizer_reply(ctx: Context, token: Token) -> None:
    """The organiser's reply to the confirmation: 取消 cancels; 时间/地点 lines change the event."""
    session, now = ctx.session, ctx.clock.now()
    event = await session.get(Event, token.item, with_for_update=True)
    organizer = ctx.directory.person(event.organizer) if event is not None else None
    if event is None or organizer is None or organizer.id != token.person:
        raise Quarantine(f"token names no event {token.item} of this organiser")
    author = check_reply(ctx, event.organizer, f"event {event.id}")
    new_text = reply_text(ctx.message.text, ctx.message.html)
    first = next((line.strip() for line in new_text.splitlines() if line.strip()), "")
    if unicodedata.normalize("NFKC", first).lower().rstrip("。.!！") in CANCEL_WORDS:
        await events.cancel_event(session, ctx.office, event, actor=author, now=now)
        return
    fields = read_fields(new_text)
    changes: dict[str, object] = {}
    if fields.time is not None:
        span = await read_time(ctx, organizer, fields, event.title)
        if span is None:
            return
        changes.update(start=span.start, end=span.end, all_day=span.all_day)
    if fields.location:
        changes["location"] = fields.location
    if fields.requirements:
        changes["requirements"] = fields.requirements
    if not changes:
        await read_time(ctx, organizer, fields, event.title)
        return
    await events.change_event(session, ctx.office, event, changes, actor=author, now=now)


class MeetingMail(EventMail):
    """`[会议]` mail and calendar invitations to unit addresses: a meeting, its members invited."""

    kind = name = "meeting"
