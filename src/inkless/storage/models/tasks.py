"""Supervision tasks (督办) and their reports."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from inkless.storage.models.base import Base, BigId, UTCDateTime


class Task(Base):
    """A supervision task (督办) for one unit: owned by its sender, followed until done.

    Overdue is not stored: it is "today in `timezone` is after the deadline and not done".
    The reminder marks make each reminder go out once, however many processes run.
    """

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    unit_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    requirements: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(320))
    deadline: Mapped[date] = mapped_column(Date, index=True)
    # open | in_progress | done
    status: Mapped[str] = mapped_column(String(16), default="open")
    source: Mapped[str] = mapped_column(String(8))
    inbound_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A pending request to move the deadline: the date asked for, why, and by whom.
    extension_to: Mapped[date | None] = mapped_column(Date)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extension_by: Mapped[str | None] = mapped_column(String(320))
    # Reminders sent: "before:3", "before:1", "overdue:2026-12-21", "escalated".
    reminders: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Raised when the deadline moves or the task closes (SEQUENCE of its feed entry).
    sequence: Mapped[int] = mapped_column(Integer, default=0)


class TaskEntry(Base):
    """One line of a task's history: progress, done, extension asked / granted / refused."""

    __tablename__ = "task_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(320))
    # progress | done | extension_asked | extension_granted | extension_refused
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(8), default="mail")
