"""Supervision tasks: which are open, for the desk and the command line."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.storage.models import Task


async def tasks_of(session: AsyncSession, *, units: Iterable[str] | None = None, done_too: bool = False) -> list[Task]:
    """Tasks by deadline (of these units only, when given; done ones only with `done_too`)."""
    query = select(Task).order_by(Task.deadline, Task.id)
    if units is not None:
        query = query.where(Task.unit_id.in_(list(units)))
    if not done_too:
        query = query.where(Task.status != "done")
    return list((await session.scalars(query)).all())
