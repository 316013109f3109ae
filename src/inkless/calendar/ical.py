"""iCalendar (RFC 5545) in and out.

Out: events are written line by line here, not through `icalendar`'s object model, because
a feed of thousands of events is assembled from text rendered once per change (see
`feeds`). The writer folds at 75 octets on character boundaries and escapes TEXT values;
the result is checked against `icalendar` and vdirsyncer in the tests.

In: calendar parts of inbound mail (invitations, cancellations, replies from Outlook,
Thunderbird, Apple Calendar, Gmail …) are read with `icalendar`, which resolves their
VTIMEZONE blocks, including Windows zone names such as "China Standard Time".
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar

from inkless.addresses import fold_address
from inkless.errors import Quarantine
from inkless.mail.parse import (
    CALENDAR_TYPES,
    ParsedMessage,
    decode_bytes,
    part_filename,
)

PRODID = "-//Inkless//Inkless paperless office//ZH"
PARTSTATS = ("NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE")


# Writing -----------------------------------------------------------------------------

def escape(value: str) -> str:
    """A TEXT value (RFC 5545 §3.3.11)."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n"))


def param(value: str) -> str:
    """A parameter value, quoted when it holds a delimiter; DQUOTE itself cannot appear."""
    value = value.replace('"', "'").replace("\r", " ").replace("\n", " ")
    return f'"{value}"' if any(ch in value for ch in ":;,") else value


def fold(line: str) -> str:
    """One content line, folded at 75 octets without splitting a UTF-8 character, with CRLF."""
    if len(line.encode()) <= 75:
        return line + "\r\n"
    pieces: list[str] = []
    piece: list[str] = []
    size, limit = 0, 75
    for ch in line:
        width = len(ch.encode())
        if size + width > limit:
            pieces.append("".join(piece))
            # Continuation lines start with a space, which counts towards their 75 octets.
            piece, size, limit = [], 0, 74
        piece.append(ch)
        size += width
    pieces.append("".join(piece))
    return "\r\n ".join(pieces) + "\r\n"


def render(lines: Iterable[str]) -> str:
    return "".join(fold(line) for line in lines)


def utc_stamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def when(name: str, value: datetime, zone: ZoneInfo, *, all_day: bool) -> str:
    """DTSTART/DTEND: a date for all-day events, local time with TZID otherwise."""
    local = value.astimezone(zone)
    if all_day:
        return f"{name};VALUE=DATE:{local:%Y%m%d}"
    if zone.key == "UTC":
        return f"{name}:{utc_stamp(value)}"
    return f"{name};TZID={zone.key}:{local:%Y%m%dT%H%M%S}"


def address_line(name: str, cn: str | None, email: str, **params: str) -> str:
    """ORGANIZER or ATTENDEE with its parameters."""
    parts = [name]
    if cn:
        parts.append(f"CN={param(cn)}")
    parts += [f"{key.replace('_', '-').upper()}={value}" for key, value in params.items()]
    return ";".join(parts) + f":mailto:{email}"


@functools.lru_cache(maxsize=4096)
def attendee_line(cn: str | None, email: str, partstat: str, *, rsvp: bool = False) -> str:
    """A folded ATTENDEE line; cached, since a feed repeats its reader's line on every meeting."""
    extra = {"rsvp": "TRUE"} if rsvp else {}
    return fold(address_line("ATTENDEE", cn, email, cutype="INDIVIDUAL", role="REQ-PARTICIPANT",
                             partstat=partstat, **extra))


@functools.cache
def vtimezone(key: str) -> str:
    """The VTIMEZONE of a zone, from 2000 on (older rules are never needed here)."""
    if key == "UTC":
        return ""
    component = icalendar.Timezone.from_tzinfo(ZoneInfo(key), first_date=date(2000, 1, 1),
                                               last_date=date(2045, 1, 1))
    # icalendar writes CRLF and folds; its COMMENT only explains the date range.
    component.pop("COMMENT", None)
    return str(component.to_ical().decode())


def calendar_head(zone: ZoneInfo, *, method: str | None = None, extra: Iterable[str] = ()) -> str:
    lines = ["BEGIN:VCALENDAR", f"PRODID:{PRODID}", "VERSION:2.0", "CALSCALE:GREGORIAN"]
    if method:
        lines.append(f"METHOD:{method}")
    lines += list(extra)
    return render(lines) + vtimezone(zone.key)


CALENDAR_TAIL = "END:VCALENDAR\r\n"


@dataclass(frozen=True)
class EventText:
    """What goes into a VEVENT, independent of storage."""

    uid: str
    title: str
    description: str
    location: str | None
    start: datetime
    end: datetime
    all_day: bool
    sequence: int
    status: str
    created: datetime
    modified: datetime
    organizer_cn: str | None
    organizer_email: str
    private: bool = False


def vevent_open(event: EventText, zone: ZoneInfo, *, stamp: datetime | None = None, busy: str | None = None) -> str:
    """A VEVENT up to (not including) its ATTENDEE lines and `END:VEVENT`.

    `busy` replaces title, place and text with that label (private events on unit feeds).
    """
    lines = [
        "BEGIN:VEVENT",
        f"UID:{event.uid}",
        f"DTSTAMP:{utc_stamp(stamp or event.modified)}",
        f"CREATED:{utc_stamp(event.created)}",
        f"LAST-MODIFIED:{utc_stamp(event.modified)}",
        f"SEQUENCE:{event.sequence}",
        f"STATUS:{event.status}",
        when("DTSTART", event.start, zone, all_day=event.all_day),
        when("DTEND", event.end, zone, all_day=event.all_day),
        f"SUMMARY:{escape(busy or event.title)}",
    ]
    if busy is None:
        if event.location:
            lines.append(f"LOCATION:{escape(event.location)}")
        if event.description:
            lines.append(f"DESCRIPTION:{escape(event.description)}")
    lines.append("CLASS:PRIVATE" if event.private else "CLASS:PUBLIC")
    lines.append("TRANSP:TRANSPARENT" if event.status == "CANCELLED" else "TRANSP:OPAQUE")
    lines.append(address_line("ORGANIZER", event.organizer_cn, event.organizer_email))
    return render(lines)


VEVENT_TAIL = "END:VEVENT\r\n"


# Reading -----------------------------------------------------------------------------

@dataclass
class CalendarItem:
    """The first VEVENT of an inbound calendar part, with the part's METHOD."""

    method: str | None
    uid: str
    sequence: int
    title: str
    description: str
    location: str | None
    start: datetime
    end: datetime
    all_day: bool
    status: str | None
    organizer: str | None
    # (email, PARTSTAT) of each ATTENDEE, lower-case emails.
    attendees: list[tuple[str, str]] = field(default_factory=list)
    comment: str | None = None


def calendar_parts(message: ParsedMessage) -> list[tuple[bytes, str | None]]:
    """The iCalendar payloads of a message with their charset labels, inline parts first."""
    found = []
    for part in message.message.walk():
        if part.is_multipart():
            continue
        filename = (part_filename(part) or "").lower()
        if part.get_content_type() in CALENDAR_TYPES or filename.endswith(".ics"):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes) and data.strip():
                inline = part.get_content_type() == "text/calendar" and not filename
                found.append((0 if inline else 1, data, part.get_content_charset()))
    return [(data, charset) for _, data, charset in sorted(found, key=lambda item: item[0])]


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        # A floating time (no TZID, no Z) is wall-clock time where the office is.
        return value.replace(tzinfo=zone) if value.tzinfo is None else value
    return datetime(value.year, value.month, value.day, tzinfo=zone)


def _when(event: icalendar.cal.Component, name: str) -> date | datetime:
    """A date or date-time property. icalendar hands back the text of one it cannot read, and
    a list for one given twice: either is a Quarantine that names the property."""
    value = event.decoded(name)
    if not isinstance(value, date):
        raise Quarantine(f"calendar event: {name} is not a date or time: {_shown(event.get(name))}")
    return value


def _shown(value: object) -> str:
    if isinstance(value, list):
        return "given more than once"
    text = getattr(value, "to_ical", lambda: str(value))()
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return text if len(text) <= 60 else text[:60] + "…"


def _text(component: icalendar.cal.Component, name: str) -> str:
    value = component.get(name)
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0]
    return str(value).strip()


def _mailto(value: object) -> str:
    text = str(value).strip()
    return fold_address(text[7:] if text.lower().startswith("mailto:") else text)


def read_calendar(message: ParsedMessage, zone: ZoneInfo) -> CalendarItem | None:
    """The event a calendar part of the message describes; None when it has none.

    Raises Quarantine when a calendar part is there but cannot be read.
    """
    parts = calendar_parts(message)
    if not parts:
        return None
    data, charset = parts[0]
    try:
        calendar = icalendar.Calendar.from_ical(decode_bytes(data, charset))
        events = calendar.walk("VEVENT")
        if not events:
            return None
        # A recurring meeting's exceptions follow the master: take the master (no RECURRENCE-ID).
        event = next((e for e in events if "RECURRENCE-ID" not in e), events[0])
        if "DTSTART" not in event:
            raise Quarantine("calendar event without DTSTART")
        raw_start = _when(event, "DTSTART")
        all_day = not isinstance(raw_start, datetime)
        if str(event.get("X-MICROSOFT-CDO-ALLDAYEVENT", "")).upper() == "TRUE":
            all_day = True
        start = _instant(raw_start, zone)
        if "DTEND" in event:
            end = _instant(_when(event, "DTEND"), zone)
        elif "DURATION" in event:
            duration = event.decoded("DURATION")
            if not isinstance(duration, timedelta):
                raise Quarantine(f"calendar event: DURATION is not a duration: {_shown(event.get('DURATION'))}")
            end = start + duration
        else:
            # RFC 5545 §3.6.1: a date lasts one day, a date-time is an instant.
            end = start + (timedelta(days=1) if all_day else timedelta())
        attendees = []
        raw_attendees = event.get("ATTENDEE", [])
        for attendee in raw_attendees if isinstance(raw_attendees, list) else [raw_attendees]:
            partstat = str(getattr(attendee, "params", {}).get("PARTSTAT", "NEEDS-ACTION")).upper()
            attendees.append((_mailto(attendee), partstat))
        method = _text(calendar, "METHOD").upper() or None
        # SEQUENCE is an integer of any size in the wild; only its order matters here.
        sequence = max(0, min(int(str(event.get("SEQUENCE", 0)).strip() or 0), 2**31 - 1))
    except Quarantine:
        raise
    except Exception as exc:  # icalendar raises many types for broken input
        raise Quarantine(f"unreadable iCalendar part: {type(exc).__name__}: {exc}") from None
    return CalendarItem(
        method=method,
        uid=_text(event, "UID"),
        sequence=sequence,
        title=_text(event, "SUMMARY"),
        description=_text(event, "DESCRIPTION"),
        location=_text(event, "LOCATION") or None,
        start=start,
        end=end,
        all_day=all_day,
        status=_text(event, "STATUS").upper() or None,
        organizer=_mailto(event["ORGANIZER"]) if "ORGANIZER" in event else None,
        attendees=attendees,
        comment=_text(event, "COMMENT") or None,
    )
