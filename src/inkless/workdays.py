"""Working days: Chinese public holidays and adjusted workdays (chinese-calendar)."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]

log = logging.getLogger(__name__)
_warned: set[int] = set()


def is_workday(day: date) -> bool:
    """Whether staff work that day; outside the package's years, Monday to Friday."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned:
            _warned.add(day.year)
            log.warning("no holiday data for %s: counting Monday to Friday as working days", day.year)
        return day.weekday() < 5


def add_working_days(start: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The same local time `days` working days after start (start itself never counts)."""
    local = start.astimezone(zone)
    day = local.date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_workday(day):
            counted += 1
    return datetime.combine(day, local.timetz()).astimezone(start.tzinfo)


def office_hours(spans: list[str]) -> list[tuple[time, time]]:
    """`["08:30-12:00", "14:00-17:30"]` (as the config checked them) as (start, end) times."""
    parsed = []
    for span in spans:
        start, end = span.split("-")
        parsed.append((_time(start), _time(end)))
    return parsed


def _time(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    return time.max if hours == 24 else time(hours, minutes)


def add_working_hours(start: datetime, hours: float, zone: ZoneInfo, spans: list[tuple[time, time]]) -> datetime:
    """The moment `hours` of office time after start: only the office hours of working days
    count (a lunch break, evenings, weekends and holidays do not)."""
    local = start.astimezone(zone)
    left = timedelta(hours=hours)
    day = local.date()
    for _ in range(3660):  # ten years of days: more than any reminder waits
        if is_workday(day):
            for begin, end in spans:
                span_start = datetime.combine(day, begin, tzinfo=zone)
                span_end = datetime.combine(day, end, tzinfo=zone)
                opened = max(span_start, local)
                if opened >= span_end:
                    continue
                if opened + left <= span_end:
                    return (opened + left).astimezone(start.tzinfo)
                left -= span_end - opened
        day += timedelta(days=1)
    raise ValueError("no office hours in ten years")
