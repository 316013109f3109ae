"""JSON API for supervision tasks: list, show, assign."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from inkless.addresses import fold_address
from inkless.storage.models import Task
from inkless.tasks import core
from inkless.tasks.views import task_views
from inkless.web.api import (
    bad_request,
    before_cursor,
    json_response,
    page,
    page_limit,
    read_json,
)
from inkless.web.api_auth import act_as
from inkless.web.fields import Day, Text, is_id
from inkless.web.keys import CLOCK, CONFIG, OFFICE, ON_QUEUED, SESSIONS

TASK_STATUSES = ("open", "in_progress", "done")


def _today(request: web.Request) -> date:
    return request.app[CLOCK].now().astimezone(request.app[CONFIG].zone).date()


async def list_tasks(request: web.Request) -> web.Response:
    """Tasks, newest first, by unit, status and `overdue=true`."""
    limit = page_limit(request)
    today = _today(request)
    query = select(Task).order_by(Task.id.desc()).limit(limit)
    if unit := request.query.get("unit"):
        query = query.where(Task.unit_id == unit)
    if status := request.query.get("status"):
        if status not in TASK_STATUSES:
            raise bad_request(f"status must be one of {', '.join(TASK_STATUSES)}")
        query = query.where(Task.status == status)
    if (overdue := request.query.get("overdue")) is not None:
        if overdue not in ("true", "false"):
            raise bad_request("overdue must be true or false")
        condition = (Task.status != "done") & (Task.deadline < today)
        query = query.where(condition if overdue == "true" else ~condition)
    if (before := before_cursor(request)) is not None:
        query = query.where(Task.id < before)
    async with request.app[SESSIONS]() as session:
        found = list((await session.scalars(query)).all())
        items = await task_views(session, found, zone=request.app[CONFIG].zone, today=today)
    return page(request, items, limit, found[-1].id if found else None)


async def get_task(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    if not is_id(raw):
        raise web.HTTPNotFound(text=f"no task {raw}")
    async with request.app[SESSIONS]() as session:
        task = await session.get(Task, int(raw))
        if task is None:
            raise web.HTTPNotFound(text=f"no task {raw}")
        [view] = await task_views(session, [task], zone=request.app[CONFIG].zone, today=_today(request))
    return json_response(view)


class NewTask(BaseModel):
    """A task per unit in `to`, owned by `owner`, due `deadline`."""

    model_config = ConfigDict(extra="forbid")

    title: Text = Field(min_length=1, max_length=500)
    owner: str
    to: list[str] = Field(min_length=1)
    deadline: Day
    requirements: Text | None = None
    body: Text = ""


async def create_task(request: web.Request) -> web.Response:
    """201 {"items": [one task per unit]}; the units' members are told at once."""
    data = await read_json(request)
    try:
        fields = NewTask.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise bad_request(f"{'.'.join(str(p) for p in first['loc']) or 'body'}: {first['msg']}") from None
    act_as(request, fields.owner, "owner")
    office = request.app[OFFICE]()
    owner = office.directory.person(fields.owner)
    if owner is None:
        raise bad_request(f"owner: {fields.owner} is not a member of the organisation")
    units = [fold_address(unit) for unit in fields.to]
    unknown = [unit for unit in units if unit != "all" and unit not in office.directory.units]
    if unknown:
        raise bad_request(f"to: unknown unit {unknown[0]}")
    async with request.app[SESSIONS]() as session:
        async with session.begin():
            tasks = await core.assign(session, office, core.TaskDraft(
                title=fields.title, deadline=fields.deadline, requirements=fields.requirements, body=fields.body,
                source="api"), owner, units, now=request.app[CLOCK].now())
        items = await task_views(session, tasks, zone=request.app[CONFIG].zone, today=_today(request))
    request.app[ON_QUEUED]()
    return json_response({"items": items}, status=201)
