"""Time is injected: code asks a Clock, so tests and reminders can control it."""

from __future__ import annotations

from datetime import datetime, timezone


class Clock:
    """The real clock: aware UTC datetimes."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock(Clock):
    """A clock that stands still until moved (tests)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at
