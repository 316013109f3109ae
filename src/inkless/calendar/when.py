"""Turn the time line of a meeting mail (calendar/fields.py reads it) into an exact span.

Office mail writes times by hand in many shapes (年月日 or ISO dates, full-width digits,
上午/下午, 至 or a dash between start and end). A calendar entry needs exact instants,
so this module reads only shapes whose meaning is certain and otherwise raises WhenError
with an English message naming the text, for the reply to the sender. It never guesses:
relative dates (下周三, 明天) are refused, and a date-only start cannot end at a time.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


class WhenError(ValueError):
    """The time line could not be read; str(error) says what, in English, naming the text."""


@dataclass(frozen=True)
class Span:
    """An event's extent; all-day spans run from midnight to the midnight after the last day."""

    start: datetime
    end: datetime
    all_day: bool


_EXAMPLE = "write the date, e.g. 2026年12月3日 9:30-11:00"
_PERIOD = "上午|早上|早晨|凌晨|中午|下午|傍晚|晚上"
_SEP = r"(?:-+|~+|至|到)"

# NFKC already folds full-width digits, colons, dashes and tildes; these dashes it keeps.
_DASHES = str.maketrans({dash: "-" for dash in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"} | {"\u301c": "~"})
_WEEKDAY = re.compile(r"\(?\s*(?:星期|礼拜|周)[一二三四五六日天1-7]\s*\)?")
_RELATIVE = re.compile(r"今天|明天|后天|昨天|今日|明日|次日|翌日|今晚|明晚|今年|明年|去年|[本这上下每]个?(?:周|星期|礼拜|月)|每[天日]")
_SEPARATOR = re.compile(_SEP)
_T = re.compile(r"T(?=\d)")

_YMD = re.compile(r"(?P<year>\d{4})\s*(?P<sep>[-/.])\s*(?P<month>\d{1,2})\s*(?P=sep)\s*(?P<day>\d{1,2})(?!\d)")
_YMD_CN = re.compile(r"(?P<year>\d{4})\s*年\s*(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})(?:\s*[日号]|(?!\d))")
_MD_CN = re.compile(r"(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})(?:\s*[日号]|(?!\d))")
_D_CN = re.compile(r"(?P<day>\d{1,2})\s*[日号]")
_START_DATES = (_YMD, _YMD_CN, _MD_CN)
_END_DATES = (*_START_DATES, _D_CN)  # "3日至5日": a bare day only ever ends a range

_CLOCK = re.compile(
    rf"(?P<period>{_PERIOD})?\s*(?P<hour>\d{{1,2}})\s*(?:"
    r":\s*(?P<minute>\d{2})(?::(?P<second>\d{2}))?(?:\s*分)?"
    r"|[点时]\s*(?:(?P<half>半)|(?P<minutes>\d{1,2})\s*分?)?"
    # "下午3-5点": a bare hour is read only when a 点/时 end follows it.
    rf"|(?=\s*{_SEP}\s*(?:{_PERIOD})?\s*\d{{1,2}}\s*[点时])"
    r")"
)
_AFTERNOON = frozenset({"下午", "傍晚", "晚上"})


@dataclass(frozen=True)
class _Day:
    """A written date; year and month are None when the text left them out."""

    year: int | None
    month: int | None
    day: int


@dataclass(frozen=True)
class _Clock:
    """A written time of day, before 上午/下午 is applied."""

    period: str | None
    hour: int
    minute: int
    second: int


@dataclass(frozen=True)
class _Point:
    """One end of the range: a date, a time of day, or both."""

    day: _Day | None
    clock: _Clock | None


class _Cursor:
    """Reads the normalised text left to right, one pattern at a time, skipping spaces."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        """Match pattern at the next non-space character and move past it."""
        found = pattern.match(self.text, len(self.text) - len(self.rest()))  # after spaces
        if found is not None:
            self.pos = found.end()
        return found

    def rest(self) -> str:
        """The text not read yet, without leading spaces."""
        return self.text[self.pos :].lstrip()


def parse_when(value: str, *, zone: ZoneInfo, today: date) -> Span:
    """Read a time line's value as a span in zone; a date without a year is its next occurrence from today."""
    text = _normalize(value)
    if not text:
        raise WhenError("the time is empty")
    relative = _RELATIVE.search(text)
    if relative is not None:
        raise WhenError(f"relative or recurring dates such as {relative.group()!r} are not read in {value!r}; {_EXAMPLE}")
    start, end = _read_range(_WEEKDAY.sub(" ", text), value)
    if start.day is None:
        raise WhenError(f"no date in {value!r}; {_EXAMPLE}")
    first = _start_date(start.day, today, value)
    if end is None:
        return _single(first, start.clock, zone, value)
    return _ranged(first, start.clock, end, zone, value)


def _normalize(value: str) -> str:
    """Fold full-width forms and dash variants to ASCII; drop closing punctuation."""
    return unicodedata.normalize("NFKC", value).translate(_DASHES).strip().rstrip("。.,;，；").strip()


def _read_range(text: str, value: str) -> tuple[_Point, _Point | None]:
    """Split the text into a start point and an optional end point, or say what is left over."""
    cursor = _Cursor(text)
    start = _read_point(cursor, _START_DATES, value)
    end = _read_point(cursor, _END_DATES, value) if cursor.take(_SEPARATOR) else None
    if cursor.rest():
        raise WhenError(f"could not read {cursor.rest()!r} in {value!r}; {_EXAMPLE}")
    return start, end


def _read_point(cursor: _Cursor, patterns: tuple[re.Pattern[str], ...], value: str) -> _Point:
    """Read a date and/or a time of day at the cursor."""
    day = _read_day(cursor, patterns)
    if day is not None:
        cursor.take(_T)
    clock = _read_clock(cursor)
    if day is None and clock is None:
        unread = cursor.rest()
        problem = f"could not read {unread!r} as a date or time" if unread else "nothing follows the range separator"
        raise WhenError(f"{problem} in {value!r}; {_EXAMPLE}")
    return _Point(day, clock)


def _read_day(cursor: _Cursor, patterns: tuple[re.Pattern[str], ...]) -> _Day | None:
    """The first date pattern that matches at the cursor, if any."""
    for pattern in patterns:
        found = cursor.take(pattern)
        if found is not None:
            parts = found.groupdict()
            year, month = parts.get("year"), parts.get("month")
            return _Day(
                int(year) if year else None,
                int(month) if month else None,
                int(parts["day"]),
            )
    return None


def _read_clock(cursor: _Cursor) -> _Clock | None:
    """A time of day at the cursor (9:30, 9点半, 9时30分, 下午2:30), if any."""
    found = cursor.take(_CLOCK)
    if found is None:
        return None
    minute = found["minute"] or found["minutes"] or ("30" if found["half"] else "0")
    return _Clock(found["period"], int(found["hour"]), int(minute), int(found["second"] or 0))


def _start_date(day: _Day, today: date, value: str) -> date:
    """The start's date; without a year, the next occurrence counting today as this year."""
    assert day.month is not None, "every start date pattern reads a month"
    year = day.year
    if year is None:
        year = today.year if (day.month, day.day) >= (today.month, today.day) else today.year + 1
    return _checked_date(year, day.month, day.day, value)


def _end_date(day: _Day, first: date, value: str) -> date:
    """The end's date, taking the year and month the text left out from the start.

    A month and day before the start fall in the following year (12月31日至1月2日).
    """
    if day.year is not None and day.month is not None:
        return _checked_date(day.year, day.month, day.day, value)
    if day.month is None:
        return _checked_date(first.year, first.month, day.day, value)
    end = _checked_date(first.year, day.month, day.day, value)
    return end if end >= first else _checked_date(first.year + 1, day.month, day.day, value)


def _checked_date(year: int, month: int, day: int, value: str) -> date:
    """date(year, month, day), or a WhenError naming the impossible date."""
    try:
        return date(year, month, day)
    except ValueError:
        raise WhenError(f"there is no date {year:04d}-{month:02d}-{day:02d} in {value!r}") from None


def _single(first: date, clock: _Clock | None, zone: ZoneInfo, value: str) -> Span:
    """A start with no end: the whole day, or one hour from the start time."""
    if clock is None:
        return _all_day(first, first, zone)
    start = _at(first, clock, zone, value)
    return Span(start, (start.astimezone(timezone.utc) + timedelta(hours=1)).astimezone(zone), False)


def _ranged(first: date, clock: _Clock | None, end: _Point, zone: ZoneInfo, value: str) -> Span:
    """A start and an end: both dates only (all-day) or both with times of day."""
    last = first if end.day is None else _end_date(end.day, first, value)
    if clock is None or end.clock is None:
        if clock is not None or end.clock is not None:
            raise WhenError(f"{value!r} gives a time of day at only one end; give times at both ends or neither")
        if last < first:
            raise WhenError(f"the last day is before the first in {value!r}")
        return _all_day(first, last, zone)
    end_clock = end.clock
    if end.day is None and end_clock.period is None:  # 下午2:30-4:00 ends at 16:00
        end_clock = _Clock(clock.period, end_clock.hour, end_clock.minute, end_clock.second)
    span = Span(_at(first, clock, zone, value), _at(last, end_clock, zone, value), False)
    if span.end.astimezone(timezone.utc) <= span.start.astimezone(timezone.utc):
        raise WhenError(f"the end is not after the start in {value!r}")
    return span


def _all_day(first: date, last: date, zone: ZoneInfo) -> Span:
    """Midnight of the first day to midnight after the last, as calendars store all-day events."""
    return Span(_midnight(first, zone), _midnight(last + timedelta(days=1), zone), True)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """00:00 of day in zone."""
    return datetime.combine(day, time(), tzinfo=zone)


def _at(day: date, clock: _Clock, zone: ZoneInfo, value: str) -> datetime:
    """The instant clock names on day; 24:00 is midnight at the end of the day."""
    hour = _hour(clock)
    if hour > 24 or clock.minute > 59 or clock.second > 59 or (hour == 24 and (clock.minute or clock.second)):
        raise WhenError(f"{clock.hour}:{clock.minute:02d} is not a time of day in {value!r}")
    if hour == 24:
        return _midnight(day + timedelta(days=1), zone)
    return datetime.combine(day, time(hour, clock.minute, clock.second), tzinfo=zone)


def _hour(clock: _Clock) -> int:
    """The 24-hour hour: 下午2 is 14, 中午1 is 13, 晚上12 is midnight (24), 中午12 stays 12."""
    if clock.period in _AFTERNOON and 1 <= clock.hour <= 11:
        return clock.hour + 12
    if clock.period == "晚上" and clock.hour == 12:
        return 24
    if clock.period == "中午" and 1 <= clock.hour <= 3:
        return clock.hour + 12
    return clock.hour
