"""Events as the API and the CLI show them (SPEC §3: `GET /api/v1/events/{id}`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.storage.models import Attendee, Event, EventUnit


def _iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    return None if value is None else value.astimezone(zone).isoformat()


async def event_views(session: AsyncSession, events: Sequence[Event], zone: ZoneInfo) -> list[dict[str, Any]]:
    """The API shape of each event, attendees included, in two queries for the whole page."""
    ids = [event.id for event in events]
    attendees: dict[int, list[Attendee]] = {event_id: [] for event_id in ids}
    units: dict[int, list[str]] = {event_id: [] for event_id in ids}
    if ids:
        for attendee in (await session.scalars(select(Attendee).where(Attendee.event_id.in_(ids))
                                               .order_by(Attendee.id))).all():
            attendees[attendee.event_id].append(attendee)
        for event_id, unit_id in (await session.execute(select(EventUnit.event_id, EventUnit.unit_id)
                                                        .where(EventUnit.event_id.in_(ids)))).all():
            units[event_id].append(unit_id)
    return [{
        "id": event.id,
        "uid": event.uid,
        "kind": event.kind,
        "title": event.title,
        "start": _iso(event.start, zone),
        "end": _iso(event.end, zone),
        "all_day": event.all_day,
        "location": event.location or None,
        "description": event.description or None,
        "requirements": event.requirements or None,
        "organizer": event.organizer,
        "units": sorted(units[event.id]),
        "person_id": event.person_id,
        "private": event.private,
        "sequence": event.sequence,
        "status": event.status,
        "created_at": _iso(event.created_at, zone),
        "updated_at": _iso(event.updated_at, zone),
        "attendees": [{
            "email": a.email,
            "name": a.name,
            "partstat": a.partstat,
            "comment": a.comment or None,
            "responded_at": _iso(a.responded_at, zone),
            "channel": a.channel,
        } for a in attendees[event.id]],
    } for event in events]
