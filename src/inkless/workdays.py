"""Working days: Chinese public holidays and adjusted workdays (chinese-calendar)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
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
