"""What every table shares: the declarative base, 64-bit ids, UTC times, the delivery state of a queued message."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Table, Text, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite has no 64-bit autoincrement type of its own: BigInteger maps to INTEGER there.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use Clock.now()")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every Inkless table."""


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements on the hot paths: an INSERT on the table costs
    half what the ORM's bulk path makes of the same INSERT on the model (issue 21)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def under_way(table: str, status: str) -> Index:
    """The index a worker claims a queue's rows of one status from, oldest due first: only the
    rows in that status are in it (partial), so a claim reads them in order and stops at its
    limit, however many copies were sent before. (One index on status and due time did not:
    each copy leaves two dead versions in it, and with a million of them, as after 250,000
    copies on a PostgreSQL that is not vacuumed, a claim took 230 ms.)"""
    where = text(f"status = '{status}'")
    return Index(f"ix_{table}_{status}", "next_attempt_at", "id", postgresql_where=where, sqlite_where=where)


class Delivery:
    """The state of something sent by a worker: claimed, retried with backoff, then sent or failed."""

    # queued → sending → sent | failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
