"""Schedules: which events are on a person's calendar, and when the feeds changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.storage.models import Attendee, CalendarState, Event, EventUnit


async def bump_calendar(session: AsyncSession, now: datetime) -> None:
    """Tell every calendar feed it may have changed (feed ETags carry this generation)."""
    await session.execute(update(CalendarState).where(CalendarState.id == 1)
                          .values(generation=CalendarState.generation + 1, changed_at=now))


def on_schedule_of(person_id: int, email: str, units: set[str]) -> ColumnElement[bool]:
    """Whether an event is on a person's schedule: a meeting they attend or organise, an entry
    on their own schedule, or a schedule entry of a unit whose mail reaches them (`units`:
    Directory.reaching). A meeting sent to their unit is theirs only as an attendee."""
    return or_(Event.id.in_(select(Attendee.event_id).where(Attendee.person_id == person_id)),
               Event.organizer == email, Event.person_id == person_id,
               (Event.kind == "schedule") & Event.id.in_(select(EventUnit.event_id).where(EventUnit.unit_id.in_(units))))


async def confirmed_events(session: AsyncSession, person_id: int, email: str, units: set[str], *,
                           start: datetime, end: datetime) -> list[Event]:
    """The confirmed events on a person's schedule that overlap [start, end), in order."""
    return list((await session.scalars(select(Event).where(
        Event.status == "CONFIRMED", Event.start < end, Event.end > start, on_schedule_of(person_id, email, units),
    ).order_by(Event.start, Event.id))).all())


async def invitations(session: AsyncSession, person_id: int, event_ids: list[int]) -> dict[int, Attendee]:
    """A person's invitations to these events, by event id (their answers)."""
    return {attendee.event_id: attendee for attendee in (await session.scalars(select(Attendee).where(
        Attendee.person_id == person_id, Attendee.event_id.in_(event_ids)))).all()}


async def newest_events(session: AsyncSession, *, limit: int) -> list[Event]:
    """The newest events, newest first."""
    return list((await session.scalars(select(Event).order_by(Event.id.desc()).limit(limit))).all())
