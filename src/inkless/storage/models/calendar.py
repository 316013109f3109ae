"""Meetings and schedules: events, the units and attendees they reach, feed tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from inkless.storage.models.base import Base, BigId, UTCDateTime


class Event(Base):
    """A meeting (会议, with attendees and RSVP) or a schedule entry (日程, for units or one person).

    `ical` is the event's VEVENT as served in feeds, rendered whenever the event changes,
    without its closing line: a feed adds the reader's own ATTENDEE line and `END:VEVENT`.
    `ical_busy` is the same for readers who may only see that the time is taken.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_source", "organizer", "source_uid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    # meeting | schedule
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str | None] = mapped_column(String(500))
    requirements: Mapped[str | None] = mapped_column(Text)
    start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    organizer: Mapped[str] = mapped_column(String(320))
    organizer_name: Mapped[str | None] = mapped_column(String(200))
    # The organiser's home unit: invitations come from its address.
    unit_id: Mapped[str] = mapped_column(String(64))
    # A schedule entry on one person's schedule only (人员:).
    person_id: Mapped[int | None] = mapped_column(BigId, index=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # CONFIRMED | CANCELLED
    status: Mapped[str] = mapped_column(String(16), default="CONFIRMED")
    # mail | calendar | api
    source: Mapped[str] = mapped_column(String(16))
    # The UID and SEQUENCE of the calendar app's invitation this event came from, so the
    # organiser's updates and cancellations find it.
    source_uid: Mapped[str | None] = mapped_column(String(500))
    source_sequence: Mapped[int | None] = mapped_column(Integer)
    inbound_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ical: Mapped[str] = mapped_column(Text, default="")
    ical_busy: Mapped[str] = mapped_column(Text, default="")


class EventUnit(Base):
    """A unit address an event was addressed to (`all` for all@): its members' and its feeds show it."""

    __tablename__ = "event_units"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Attendee(Base):
    """One person invited to a meeting, and their answer (RSVP)."""

    __tablename__ = "attendees"
    __table_args__ = (UniqueConstraint("event_id", "email"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(BigId, index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    # NEEDS-ACTION | ACCEPTED | DECLINED | TENTATIVE
    partstat: Mapped[str] = mapped_column(String(16), default="NEEDS-ACTION")
    comment: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # mail | itip | web | bot
    channel: Mapped[str | None] = mapped_column(String(8))


class FeedToken(Base):
    """The secret of a calendar feed URL, for a person or a unit.

    The URL token is an HMAC of a random salt under `secret_key`: the database holds the
    salt and the token's SHA-256, so its rows alone never give a working URL, while the
    CLI can print the URL again. Rotating revokes the old row and makes a new one.
    """

    __tablename__ = "feed_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int | None] = mapped_column(BigId, index=True)
    unit_id: Mapped[str | None] = mapped_column(String(64), index=True)
    salt: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CalendarState(Base):
    """One row: a counter bumped by every change that can alter a feed (events, answers,
    the organisation), so a feed's ETag is known without reading its events."""

    __tablename__ = "calendar_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
