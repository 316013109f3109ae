"""Checks shared by the API's input models: text a database and a mail can carry, sane times."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator

# NUL and the other C0 controls (but tab and newlines) cannot go into PostgreSQL text or a
# mail header, and are never meant.
_CONTROLS = {chr(code) for code in range(32)} - {"\t", "\n", "\r"}


def _text(value: str) -> str:
    if any(ch in _CONTROLS for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _year(value: datetime | date) -> datetime | date:
    if not 1900 <= value.year <= 2200:
        raise ValueError("must be between the years 1900 and 2200")
    return value


Text = Annotated[str, AfterValidator(_text)]
Moment = Annotated[datetime, AfterValidator(_year)]
Day = Annotated[date, AfterValidator(_year)]


MAX_ID = 2**63 - 1


def is_id(raw: str) -> bool:
    """Whether a path or query value can be a row id: ASCII digits within 64 bits (anything
    else is "not found", never a database error)."""
    return raw.isascii() and raw.isdigit() and int(raw) <= MAX_ID
