"""Tasks as the API, the CLI and the board show them (SPEC §3: `GET /api/v1/tasks/{id}`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.storage.models import Task, TaskEntry


async def task_views(session: AsyncSession, tasks: Sequence[Task], *, zone: ZoneInfo, today: date
                     ) -> list[dict[str, Any]]:
    """Each task with its history, in one query for the page."""
    ids = [task.id for task in tasks]
    entries: dict[int, list[TaskEntry]] = {task_id: [] for task_id in ids}
    if ids:
        for entry in (await session.scalars(select(TaskEntry).where(TaskEntry.task_id.in_(ids))
                                            .order_by(TaskEntry.at, TaskEntry.id))).all():
            entries[entry.task_id].append(entry)
    return [{
        "id": task.id,
        "title": task.title,
        "unit": task.unit_id,
        "owner": task.owner,
        "deadline": task.deadline.isoformat(),
        "status": task.status,
        "overdue": task.status != "done" and today > task.deadline,
        "requirements": task.requirements or None,
        "progress": [{"at": e.at.astimezone(zone).isoformat(), "by": e.by, "text": e.text, "kind": e.kind}
                     for e in entries[task.id]],
        "extension": {"to": task.extension_to.isoformat(), "by": task.extension_by, "reason": task.extension_reason}
        if task.extension_to else None,
        "created_at": task.created_at.astimezone(zone).isoformat(),
        "closed_at": task.closed_at.astimezone(zone).isoformat() if task.closed_at else None,
    } for task in tasks]
