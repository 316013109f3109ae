"""JSON API for meetings and schedules: list, show, create, change, cancel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.addresses import fold_address
from inkless.calendar import events
from inkless.calendar.views import event_views
from inkless.office import Office
from inkless.storage.models import Event, EventUnit
from inkless.storage.visibility import event_visible_to
from inkless.web.api import (
    bad_request,
    before_cursor,
    json_response,
    page,
    page_limit,
    parse_since,
    read_json,
)
from inkless.web.api_auth import act_as, api_client
from inkless.web.fields import Moment, Text, is_id
from inkless.web.keys import CLOCK, CONFIG, OFFICE, ON_QUEUED, SESSIONS

EVENT_STATUSES = ("CONFIRMED", "CANCELLED")


class EventFields(BaseModel):
    """What a change may set; times without an offset are in the configured zone."""

    model_config = ConfigDict(extra="forbid")

    title: Text | None = Field(None, min_length=1, max_length=500)
    start: Moment | None = None
    end: Moment | None = None
    all_day: bool | None = None
    location: Text | None = Field(None, max_length=500)
    description: Text | None = None
    requirements: Text | None = None
    private: bool | None = None


class NewEvent(EventFields):
    """A new meeting (invitations go out) or schedule entry (for units, or one person)."""

    kind: Literal["meeting", "schedule"] = "meeting"
    title: Text = Field(min_length=1, max_length=500)
    start: Moment
    organizer: str
    to: list[str] = Field(default_factory=list)
    person: str | None = None

    @field_validator("organizer", "person")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return fold_address(value) if value else value


async def _read(request: web.Request, model: type[EventFields]) -> EventFields:
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise bad_request(f"{where}: {first['msg']}") from None


def _aware(value: datetime, request: web.Request) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=request.app[CONFIG].zone)


def _times(fields: EventFields, request: web.Request, current: Event | None = None) -> dict[str, Any]:
    """start/end/all_day as the event will have them, checked; an absent end lasts an hour (a day)."""
    changes: dict[str, Any] = {}
    all_day = fields.all_day if fields.all_day is not None else (current.all_day if current else False)
    start = _aware(fields.start, request) if fields.start else (current.start if current else None)
    end = _aware(fields.end, request) if fields.end else None
    if start is None:
        raise bad_request("start: required")
    if all_day:
        zone = request.app[CONFIG].zone
        local = start.astimezone(zone)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if end is None:
        if current is not None and fields.start is None and fields.all_day is None:
            end = current.end
        elif current is not None and fields.start is not None:
            end = start + (current.end - current.start)
        else:
            end = start + (timedelta(days=1) if all_day else timedelta(hours=1))
    if end <= start:
        raise bad_request("end: must be after start")
    if fields.start is not None or current is None:
        changes["start"] = start
    if fields.end is not None or fields.start is not None or current is None:
        changes["end"] = end
    if fields.all_day is not None:
        changes["all_day"] = all_day
    return changes


async def list_events(request: web.Request) -> web.Response:
    """Events, newest first, filtered by status, unit, and start time (`since`, `until`)."""
    limit = page_limit(request)
    query = select(Event).order_by(Event.id.desc()).limit(limit)
    if status := request.query.get("status"):
        if status not in EVENT_STATUSES:
            raise bad_request(f"status must be one of {', '.join(EVENT_STATUSES)}")
        query = query.where(Event.status == status)
    if unit := request.query.get("unit"):
        query = query.where(Event.id.in_(select(EventUnit.event_id).where(EventUnit.unit_id == unit)))
    if since := request.query.get("since"):
        query = query.where(Event.start >= parse_since(since, request))
    if until := request.query.get("until"):
        query = query.where(Event.start < parse_since(until, request))
    if (before := before_cursor(request)) is not None:
        query = query.where(Event.id < before)
    query = _visible(request, query)
    async with request.app[SESSIONS]() as session:
        found = list((await session.scalars(query)).all())
        items = await event_views(session, found, request.app[CONFIG].zone)
    return page(request, items, limit, found[-1].id if found else None)


def _visible(request: web.Request, query: Select[Event]) -> Select[Event]:
    """Only the events the token's owner may see (private ones: their attendees)."""
    owner = api_client(request).reader
    return query if owner is None else query.where(event_visible_to(owner.id, owner.email))


def _event_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not is_id(raw):
        raise web.HTTPNotFound(text=f"no event {raw}")
    return int(raw)


async def get_event(request: web.Request) -> web.Response:
    """One event with its attendees and their answers."""
    event_id = _event_id(request)
    async with request.app[SESSIONS]() as session:
        event = await session.scalar(_visible(request, select(Event).where(Event.id == event_id)))
        if event is None:
            raise web.HTTPNotFound(text=f"no event {event_id}")
        [view] = await event_views(session, [event], request.app[CONFIG].zone)
    return json_response(view)


async def create_event(request: web.Request) -> web.Response:
    """201 with the event; a meeting's invitations are queued in the same transaction."""
    fields = await _read(request, NewEvent)
    assert isinstance(fields, NewEvent)
    act_as(request, fields.organizer, "organizer")
    office = request.app[OFFICE]()
    organizer = office.directory.person(fields.organizer)
    if organizer is None:
        raise bad_request(f"organizer: {fields.organizer} is not a member of the organisation")
    person = None
    if fields.person:
        person = office.directory.person(fields.person)
        if person is None:
            raise bad_request(f"person: {fields.person} is not a member of the organisation")
        if fields.kind != "schedule":
            raise bad_request("person: only a schedule entry can be for one person")
    units = tuple(dict.fromkeys(fold_address(unit) for unit in fields.to))
    unknown = [unit for unit in units if unit != "all" and unit not in office.directory.units]
    if unknown:
        raise bad_request(f"to: unknown unit {unknown[0]}")
    if not units and person is None:
        raise bad_request("to: name at least one unit (or a person for a schedule entry)")
    times = _times(fields, request)
    draft = events.EventDraft(
        kind=fields.kind, title=fields.title, start=times["start"], end=times["end"],
        all_day=bool(fields.all_day), location=fields.location, description=fields.description or "",
        requirements=fields.requirements, units=() if person else units, person=person,
        private=bool(fields.private), source="api")
    async with request.app[SESSIONS]() as session:
        async with session.begin():
            event = await events.create_event(session, office, draft, organizer, now=request.app[CLOCK].now())
        [view] = await event_views(session, [event], request.app[CONFIG].zone)
    request.app[ON_QUEUED]()
    return json_response(view, status=201)


async def change_event(request: web.Request) -> web.Response:
    """Change time, place or text: SEQUENCE goes up and attendees get the update."""
    fields = await _read(request, EventFields)

    async def change(session: AsyncSession, office: Office, event: Event, now: datetime) -> None:
        if event.status == "CANCELLED":
            raise web.HTTPConflict(text=f"event {event.id} is cancelled")
        changes: dict[str, Any] = {name: value for name, value in fields.model_dump(exclude_unset=True).items()
                                   if name not in ("start", "end", "all_day") and value is not None}
        if fields.start or fields.end or fields.all_day is not None:
            changes.update(_times(fields, request, event))
        await events.change_event(session, office, event, changes, actor="api", now=now)

    return await _with_event(request, change)


async def cancel_event(request: web.Request) -> web.Response:
    """Cancel: attendees get a CANCEL, feeds show STATUS:CANCELLED for a while."""

    async def cancel(session: AsyncSession, office: Office, event: Event, now: datetime) -> None:
        await events.cancel_event(session, office, event, actor="api", now=now)

    return await _with_event(request, cancel)


async def _with_event(request: web.Request,
                      work: Callable[[AsyncSession, Office, Event, datetime], Awaitable[None]]) -> web.Response:
    """Lock the event, do the work in one transaction, answer with the event as it is now.

    Changing an event is acting as its organiser: other tokens get 403 (404 if they may not
    even see it)."""
    event_id = _event_id(request)
    office = request.app[OFFICE]()
    async with request.app[SESSIONS]() as session:
        async with session.begin():
            event = await session.scalar(_visible(request, select(Event).where(Event.id == event_id))
                                         .with_for_update())
            if event is None:
                raise web.HTTPNotFound(text=f"no event {event_id}")
            act_as(request, event.organizer, "organizer")
            await work(session, office, event, request.app[CLOCK].now())
        [view] = await event_views(session, [event], request.app[CONFIG].zone)
    request.app[ON_QUEUED]()
    return json_response(view)
