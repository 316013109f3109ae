"""The supervision task board (督办事项): every unit's tasks, overdue first, for signed-in members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.storage.models import Task, TaskEntry
from inkless.web.desk import member, member_page
from inkless.web.keys import CLOCK, CONFIG, OFFICE, SESSIONS

# Done tasks stay on the board this long, so a closing is seen before it drops off.
DONE_SHOWN_DAYS = 30


@dataclass(frozen=True)
class BoardTask:
    """A task as the board shows it: its state word, owner's name and latest progress."""

    task: Task
    state: str
    owner: str
    progress: TaskEntry | None


@dataclass(frozen=True)
class UnitTasks:
    """One unit's part of the board."""

    unit_id: str
    name: str
    tasks: list[BoardTask]


def state_of(task: Task, today: date) -> str:
    """open | in_progress | done | overdue (today in the configured zone is after the deadline)."""
    if task.status != "done" and today > task.deadline:
        return "overdue"
    return task.status


def board_order(item: BoardTask) -> tuple[int, date, int]:
    """Overdue first, then open work by deadline, done last."""
    rank = {"overdue": 0, "done": 2}.get(item.state, 1)
    return rank, item.task.deadline, item.task.id


async def latest_progress(session: AsyncSession, task_ids: list[int]) -> dict[int, TaskEntry]:
    """The newest progress entry of each task (later rows win)."""
    latest: dict[int, TaskEntry] = {}
    if not task_ids:
        return latest
    entries = await session.scalars(select(TaskEntry).where(TaskEntry.task_id.in_(task_ids),
                                                            TaskEntry.kind == "progress")
                                    .order_by(TaskEntry.at, TaskEntry.id))
    for entry in entries:
        latest[entry.task_id] = entry
    return latest


async def board(request: web.Request) -> web.Response:
    """GET /tasks: tasks grouped per unit (in org order), each unit's list overdue first."""
    person = member(request)
    office, config, now = request.app[OFFICE](), request.app[CONFIG], request.app[CLOCK].now()
    today = now.astimezone(config.zone).date()
    async with request.app[SESSIONS]() as session:
        tasks = list((await session.scalars(select(Task).where(or_(
            Task.status != "done", Task.closed_at >= now - timedelta(days=DONE_SHOWN_DAYS))))).all())
        progress = await latest_progress(session, [task.id for task in tasks])
    grouped: dict[str, list[BoardTask]] = {}
    for task in tasks:
        grouped.setdefault(task.unit_id, []).append(BoardTask(
            task, state_of(task, today), office.directory.display(task.owner), progress.get(task.id)))
    order = list(office.directory.units)
    units = [UnitTasks(unit_id, office.directory.units[unit_id].name if unit_id in office.directory.units
                       else unit_id, sorted(items, key=board_order))
             for unit_id, items in sorted(grouped.items(),
                                          key=lambda pair: order.index(pair[0]) if pair[0] in order else len(order))]
    return member_page(request, "board.html", person, units=units, done_days=DONE_SHOWN_DAYS,
                       display=office.directory.display)
