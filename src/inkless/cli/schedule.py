"""Meetings, schedules and supervision tasks on the command line."""

from __future__ import annotations

from typing import Any

import click

from inkless.calendar.views import event_views
from inkless.cli.common import config_option, format_table, run_db, user_errors
from inkless.clock import Clock
from inkless.config import load_config
from inkless.errors import InklessError
from inkless.storage import queries
from inkless.storage.models import Event
from inkless.tasks.views import task_views


@click.group()
def task() -> None:
    """Supervision tasks (督办)."""


@task.command("list")
@config_option
@click.option("--unit", default=None, help="Only this unit's tasks.")
@click.option("--all", "everything", is_flag=True, help="Done tasks too.")
@user_errors
def task_list(config_file: str | None, unit: str | None, everything: bool) -> None:
    """Tasks, overdue first, then by deadline: unit, deadline, status, latest progress."""
    config = load_config(config_file)
    today = Clock().now().astimezone(config.zone).date()

    async def work(sessions: Any) -> list[dict[str, Any]]:
        async with sessions() as session:
            found = await queries.tasks_of(session, units=[unit] if unit else None, done_too=everything)
            return await task_views(session, found, zone=config.zone, today=today)

    views = sorted(run_db(config, work), key=lambda view: (not view["overdue"], view["deadline"], view["id"]))
    table = [("ID", "UNIT", "DEADLINE", "STATUS", "OWNER", "TITLE", "LATEST")]
    for view in views:
        latest = next((e["text"] for e in reversed(view["progress"]) if e["kind"] == "progress"), "-")
        status = "overdue" if view["overdue"] else view["status"]
        table.append((str(view["id"]), view["unit"], view["deadline"], status, view["owner"], view["title"],
                      latest.replace("\n", " ")[:40] or "-"))
    click.echo(format_table(table))


@click.group()
def event() -> None:
    """Meetings and schedule entries."""


@event.command("list")
@config_option
@click.option("--limit", default=50, show_default=True)
@user_errors
def event_list(config_file: str | None, limit: int) -> None:
    """Newest events with their time, status and how many attendees answered."""
    config = load_config(config_file)

    async def work(sessions: Any) -> list[dict[str, Any]]:
        async with sessions() as session:
            return await event_views(session, await queries.newest_events(session, limit=limit), config.zone)

    table = [("ID", "KIND", "START", "STATUS", "ANSWERED", "TITLE")]
    for view in run_db(config, work):
        answered = sum(1 for a in view["attendees"] if a["partstat"] != "NEEDS-ACTION")
        table.append((str(view["id"]), view["kind"], view["start"][:16].replace("T", " "), view["status"],
                      f"{answered}/{len(view['attendees'])}", view["title"]))
    click.echo(format_table(table))


@event.command("show")
@config_option
@click.argument("event_id", type=int)
@user_errors
def event_show(config_file: str | None, event_id: int) -> None:
    """An event and its attendance list: who accepted, declined, is tentative or has not answered."""
    config = load_config(config_file)

    async def work(sessions: Any) -> dict[str, Any] | None:
        async with sessions() as session:
            found = await session.get(Event, event_id)
            return (await event_views(session, [found], config.zone))[0] if found else None

    view = run_db(config, work)
    if view is None:
        raise InklessError(f"no event {event_id}")

    def when(value: str | None) -> str:
        return value[:16].replace("T", " ") if value else "-"

    click.echo(f"{view['title']}  ({view['kind']}, {view['status']}, sequence {view['sequence']})")
    click.echo(f"{when(view['start'])} – {when(view['end'])} · {view['location'] or '-'} · "
               f"organizer {view['organizer']} · uid {view['uid']}")
    table = [("ATTENDEE", "ANSWER", "ANSWERED", "VIA", "COMMENT")]
    for a in view["attendees"]:
        table.append((a["email"], a["partstat"], when(a["responded_at"]), a["channel"] or "-",
                      (a["comment"] or "-").replace("\n", " ")))
    click.echo(format_table(table))
    counts = {state: sum(1 for a in view["attendees"] if a["partstat"] == state)
              for state in ("ACCEPTED", "DECLINED", "TENTATIVE", "NEEDS-ACTION")}
    click.echo(f"{len(view['attendees'])} attendees: {counts['ACCEPTED']} accepted, {counts['DECLINED']} declined, "
               f"{counts['TENTATIVE']} tentative, {counts['NEEDS-ACTION']} not answered")
