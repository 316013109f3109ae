"""Calendar feeds: `GET /calendar/<token>.ics` for a person or a unit.

A feed is assembled from each event's stored VEVENT text (rendered once per change), so
serving thousands of events is string joining, not building a calendar. Every change to
events, answers or the organisation bumps one generation counter; a feed's ETag is that
generation plus what else decides its content (feed, day, language), so a conditional
request is answered from one indexed look-up. Assembled feeds (plain and gzipped) are
kept in a small per-process cache keyed by ETag.

Feed tokens: the URL carries HMAC(secret_key, salt); the database keeps the salt and the
token's SHA-256. A request is looked up by the SHA-256 of what it presents, so a hit and
a miss do the same work until the answer.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import ColumnElement, and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from inkless.calendar import ical
from inkless.config import Config
from inkless.directory import Directory, PersonInfo
from inkless.mail.texts import text
from inkless.storage import queries
from inkless.storage.models import (
    Attendee,
    CalendarState,
    Event,
    EventUnit,
    FeedToken,
    Task,
)


def token_for(secret_key: str, salt: str) -> str:
    key = hashlib.sha256(b"inkless-feed\0" + secret_key.encode()).digest()
    return base64.b32encode(hmac.new(key, salt.encode(), hashlib.sha256).digest()[:20]).decode().lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def url_for(config: Config, token: str) -> str:
    return f"{config.web.base_url}/calendar/{token}.ics"


async def feed_url(session: AsyncSession, config: Config, *, person_id: int | None = None,
                   unit_id: str | None = None, rotate: bool = False, now: datetime) -> str:
    """The feed URL of a person or unit, made on first use; `rotate` replaces it (the old URL dies)."""
    owner = FeedToken.person_id == person_id if person_id is not None else FeedToken.unit_id == unit_id
    current = await session.scalar(select(FeedToken).where(owner, FeedToken.revoked_at.is_(None))
                                   .order_by(FeedToken.id.desc()).limit(1))
    if current is not None and not rotate:
        return url_for(config, token_for(config.secret_key, current.salt))
    await revoke(session, person_id=person_id, unit_id=unit_id, now=now)
    salt = secrets.token_hex(16)
    token = token_for(config.secret_key, salt)
    session.add(FeedToken(person_id=person_id, unit_id=unit_id, salt=salt, token_hash=token_hash(token),
                          created_at=now))
    return url_for(config, token)


async def revoke(session: AsyncSession, *, person_id: int | None = None, unit_id: str | None = None,
                 now: datetime) -> int:
    """Revoke every live feed URL of a person or unit; returns how many."""
    owner = FeedToken.person_id == person_id if person_id is not None else FeedToken.unit_id == unit_id
    result = await session.execute(update(FeedToken).where(owner, FeedToken.revoked_at.is_(None))
                                   .values(revoked_at=now))
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Found:
    """A live feed and the calendar generation, from one look-up."""

    feed_id: int
    person_id: int | None
    unit_id: str | None
    generation: int
    changed_at: datetime


# Built once: every conditional GET of every calendar app runs it (SPEC §8 wants a 304 in 2 ms).
_RESOLVE = (select(FeedToken.id, FeedToken.person_id, FeedToken.unit_id, CalendarState.generation,
                   CalendarState.changed_at)
            .join(CalendarState, CalendarState.id == 1)
            .where(FeedToken.token_hash == bindparam("token_hash"), FeedToken.revoked_at.is_(None)))


async def resolve(connection: AsyncConnection | AsyncSession, token: str) -> Found | None:
    """The live feed a presented token opens, with the current generation; None for unknown or
    revoked. One statement: a connection of `storage.engine.reading` will do."""
    row = (await connection.execute(_RESOLVE, {"token_hash": token_hash(token)})).first()
    if row is None:
        return None
    return Found(row[0], row[1], row[2], row[3], row[4])


@dataclass(frozen=True)
class Version:
    """What a feed's content depends on, as HTTP validators."""

    etag: str
    last_modified: datetime


def version_of(found: Found, config: Config, now: datetime) -> Version:
    """The window of a feed moves daily; the rest changes only with the generation."""
    zone = config.zone
    today = now.astimezone(zone).date()
    midnight = datetime.combine(today, time(0), tzinfo=zone)
    tag = f"g{found.generation}-f{found.feed_id}-d{today.toordinal()}-{config.language}-{config.timezone}"
    last_modified = max(found.changed_at, midnight).astimezone(timezone.utc).replace(microsecond=0)
    return Version(f'"{hashlib.sha256(tag.encode()).hexdigest()[:24]}"', last_modified)


class Rendered:
    """An assembled feed; its gzip form is made on the first request that accepts it."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self._gzipped: bytes | None = None

    async def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = await asyncio.to_thread(gzip.compress, self.body, 6, mtime=0)
        return self._gzipped


class FeedCache:
    """Assembled feeds by ETag, least recently used out first."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[str, Rendered] = OrderedDict()

    def get(self, etag: str) -> Rendered | None:
        found = self._items.get(etag)
        if found is not None:
            self._items.move_to_end(etag)
        return found

    def put(self, etag: str, rendered: Rendered) -> None:
        self._items[etag] = rendered
        while len(self._items) > self._size:
            self._items.popitem(last=False)


def _window(config: Config, now: datetime) -> ColumnElement[bool]:
    """Events still in feeds: not ended too long ago; cancelled ones only for a while."""
    return and_(Event.end >= now - timedelta(days=config.calendar.past_days),
                or_(Event.status != "CANCELLED",
                    Event.cancelled_at >= now - timedelta(days=config.calendar.keep_cancelled_days)))


def _calendar_head(config: Config, name: str) -> str:
    refresh = f"PT{config.calendar.refresh_minutes}M"
    return ical.calendar_head(config.zone, extra=[
        f"NAME:{ical.escape(name)}", f"X-WR-CALNAME:{ical.escape(name)}", f"X-WR-TIMEZONE:{config.timezone}",
        f"REFRESH-INTERVAL;VALUE=DURATION:{refresh}", f"X-PUBLISHED-TTL:{refresh}"])


async def person_feed(session: AsyncSession, config: Config, person: PersonInfo, directory: Directory, *,
                      now: datetime) -> str:
    """A person's schedule: meetings they attend (with their own answer), meetings they
    organise, their units' schedule entries and entries on their own schedule."""
    window = _window(config, now)
    units = directory.reaching(person)
    attending = (await session.execute(
        select(Event.id, Event.start, Event.ical, Attendee.name, Attendee.email, Attendee.partstat)
        .join(Attendee, Attendee.event_id == Event.id)
        .where(Attendee.person_id == person.id, window))).all()
    pieces: dict[int, tuple[datetime, str]] = {
        event_id: (start, body + ical.attendee_line(name, email, partstat) + ical.VEVENT_TAIL)
        for event_id, start, body, name, email, partstat in attending}
    own = (await session.execute(select(Event.id, Event.start, Event.ical).where(
        queries.on_schedule_of(person.id, person.email, units), window))).all()
    for event_id, start, body in own:
        pieces.setdefault(event_id, (start, body + ical.VEVENT_TAIL))
    tasks = (await session.scalars(select(Task).where(
        or_(Task.unit_id.in_(units), Task.owner == person.email),
        Task.deadline >= (now - timedelta(days=config.calendar.past_days)).date()))).all()
    for task in tasks:
        # Negative keys keep task entries apart from event ids.
        pieces[-task.id] = task_entry(task, config)
    name = text(config.language, "calendar_name_person", name=person.display)
    return _assemble(config, name, pieces)


def task_entry(task: Task, config: Config) -> tuple[datetime, str]:
    """A task's deadline as an all-day event (calendar apps show VEVENTs, not all show VTODO)."""
    zone = config.zone
    start = datetime.combine(task.deadline, time(0), tzinfo=zone)
    summary = text(config.language, "task_feed_summary", title=task.title)
    if task.status == "done":
        summary += text(config.language, "task_feed_done")
    body = ical.vevent_open(ical.EventText(
        uid=f"task-{task.id}@{config.domain}", title=summary, description=task.requirements or "",
        location=None, start=start, end=start + timedelta(days=1), all_day=True, sequence=task.sequence,
        status="CONFIRMED", created=task.created_at, modified=task.updated_at, organizer_cn=None,
        organizer_email=task.owner), zone)
    return start, body + ical.VEVENT_TAIL


async def unit_feed(session: AsyncSession, config: Config, unit_id: str, directory: Directory, *,
                    now: datetime) -> str:
    """A unit's schedule: what was addressed to it (or above it), and its members' own
    schedule entries, private ones only as busy."""
    window = _window(config, now)
    addressed = {"all", *directory.ancestors(unit_id)}
    member_ids = [p.id for p in directory.members(unit_id, recursive=False)]
    rows = (await session.execute(
        select(Event.id, Event.start, Event.ical, Event.ical_busy, Event.private, Event.person_id).where(
            or_(Event.id.in_(select(EventUnit.event_id).where(EventUnit.unit_id.in_(addressed))),
                Event.person_id.in_(member_ids)),
            window))).all()
    pieces = {event_id: (start, (busy if private and person_id is not None else body) + ical.VEVENT_TAIL)
              for event_id, start, body, busy, private, person_id in rows}
    unit = directory.units.get(unit_id)
    name = text(config.language, "calendar_name_unit", name=unit.name if unit else unit_id)
    return _assemble(config, name, pieces)


def _assemble(config: Config, name: str, pieces: dict[int, tuple[datetime, str]]) -> str:
    ordered = sorted(pieces.items(), key=lambda item: (item[1][0], item[0]))
    return _calendar_head(config, name) + "".join(body for _, (_, body) in ordered) + ical.CALENDAR_TAIL


async def render_feed(session: AsyncSession, config: Config, found: Found, directory: Directory, *,
                      now: datetime) -> Rendered | None:
    """The feed a token opens, or None when its person or unit has left the organisation."""
    if found.person_id is not None:
        person = directory.person_by_id(found.person_id)
        if person is None:
            return None
        body = await person_feed(session, config, person, directory, now=now)
    else:
        if found.unit_id not in directory.units:
            return None
        body = await unit_feed(session, config, str(found.unit_id), directory, now=now)
    return Rendered(body.encode())
