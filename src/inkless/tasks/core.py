"""Supervision tasks (督查督办): assign to units, follow progress, close, extend, remind.

A task belongs to one unit and is owned by its sender. The unit's members get it by mail
(and by bot when linked) with a reply address of their own; their replies add progress,
close it, or ask the owner for a later deadline. Reminders count working days (Chinese
holidays and adjusted workdays respected) and go out once each, claimed in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless import notices
from inkless.chat import notify as chat
from inkless.directory import PersonInfo
from inkless.mail.texts import text
from inkless.office import Office
from inkless.storage import queries
from inkless.storage.audit import record
from inkless.storage.models import Task, TaskEntry
from inkless.tokens import Token
from inkless.workdays import is_workday


def today(office: Office, now: datetime) -> date:
    return now.astimezone(office.config.zone).date()


def is_overdue(task: Task, day: date) -> bool:
    return task.status != "done" and day > task.deadline


def working_days_before(deadline: date, days: int) -> date:
    """The day `days` working days before the deadline (the deadline itself not counted)."""
    day, counted = deadline, 0
    while counted < days:
        day -= timedelta(days=1)
        if is_workday(day):
            counted += 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end`."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_workday(day):
            count += 1
    return count


@dataclass(frozen=True)
class TaskDraft:
    title: str
    deadline: date
    requirements: str | None = None
    body: str = ""
    source: str = "mail"
    inbound_id: int | None = None


async def assign(session: AsyncSession, office: Office, draft: TaskDraft, owner: PersonInfo, units: Sequence[str], *,
                 now: datetime) -> list[Task]:
    """One task per addressed unit (all@: every top-level unit), each sent to the unit's members."""
    directory = office.directory
    targets = [u.id for u in directory.units.values() if u.parent is None] if "all" in units else list(units)
    tasks = []
    for unit_id in dict.fromkeys(targets):
        task = Task(unit_id=unit_id, title=draft.title, body=draft.body, requirements=draft.requirements,
                    owner=owner.email, deadline=draft.deadline, status="open", source=draft.source,
                    inbound_id=draft.inbound_id, created_at=now, updated_at=now, reminders=[], sequence=0)
        session.add(task)
        await session.flush()
        record(session, now=now, actor=owner.email, action="task.assigned", subject_type="task", subject_id=task.id,
               detail={"unit": unit_id, "deadline": draft.deadline.isoformat(), "title": draft.title})
        await _send_to_unit(session, office, task, kind="task", subject_key="task_subject", body=_task_body(
            office, task, owner), now=now)
        tasks.append(task)
    await queries.bump_calendar(session, now)
    language = office.config.language
    names = "、".join(directory.units[t.unit_id].name for t in tasks if t.unit_id in directory.units)
    await notices.send(session, office, notices.Notice(
        kind="task_notice", unit_id=owner.home_unit, to_email=owner.email, to_name=owner.name,
        subject=text(language, "task_created_subject", title=draft.title, count=len(tasks)),
        text=text(language, "task_created_body", title=draft.title, units=names, deadline=draft.deadline.isoformat(),
                  url=f"{office.config.web.base_url}/tasks"),
        message_id=f"<inkless.t{tasks[0].id}.assigned@{office.config.domain}>" if tasks else "<none>",
        mail_from=""), now=now)
    return tasks


def _task_body(office: Office, task: Task, owner: PersonInfo | None) -> str:
    language = office.config.language
    unit = office.directory.units.get(task.unit_id)
    return text(language, "task_body", owner=owner.display if owner else task.owner,
                unit=unit.name if unit else task.unit_id, title=task.title, deadline=task.deadline.isoformat(),
                requirements=task.requirements or text(language, "none"),
                body=(task.body.strip() + "\n\n") if task.body.strip() else "")


def members(office: Office, task: Task) -> list[PersonInfo]:
    """Who works on the task: the unit's members (with its sub-units), without the owner."""
    return office.directory.reach([task.unit_id], without=task.owner)


async def _send_to_unit(session: AsyncSession, office: Office, task: Task, *, kind: str, subject_key: str, body: str,
                        now: datetime, people: Sequence[PersonInfo] | None = None, suffix: str = "",
                        **values: object) -> None:
    """A mail to each member (with their own reply address) and a bot message to linked ones."""
    language, signer = office.config.language, office.signer
    subject = text(language, subject_key, title=task.title, deadline=task.deadline.isoformat(), **values)
    recipients = members(office, task) if people is None else list(people)
    told = []
    for person in recipients:
        token = Token("reply", "t", task.id, person.id)
        told.append((notices.Notice(
            kind=kind, unit_id=task.unit_id if task.unit_id in office.directory.units else person.home_unit,
            to_email=person.email, to_name=person.name, subject=subject, text=body,
            message_id=signer.message_id(token, suffix=suffix), mail_from=signer.address(Token("bounce", "t", task.id,
                                                                                                person.id)),
            reply_to=signer.address(token)), chat.Notification(
            person_id=person.id, key=f"task:{task.id}:{kind}:{suffix}", kind="task", item=None,
            text=text(language, "bot_task_reminder", title=task.title, deadline=task.deadline.isoformat(),
                      state=subject))))
    await notices.tell(session, office, told, now=now)


async def add_entry(session: AsyncSession, task: Task, *, kind: str, by: str, body: str, now: datetime,
                    channel: str = "mail") -> TaskEntry:
    entry = TaskEntry(task_id=task.id, at=now, by=by, kind=kind, text=body, channel=channel)
    session.add(entry)
    task.updated_at = now
    record(session, now=now, actor=by, action=f"task.{kind}", subject_type="task", subject_id=task.id,
           detail={"text": body, "channel": channel})
    return entry


async def report_progress(session: AsyncSession, task: Task, by: str, body: str, *, now: datetime,
                          channel: str = "mail") -> None:
    await add_entry(session, task, kind="progress", by=by, body=body, now=now, channel=channel)
    if task.status == "open":
        task.status = "in_progress"


async def close(session: AsyncSession, office: Office, task: Task, by: PersonInfo, body: str, *, now: datetime,
                channel: str = "mail") -> None:
    """Done: recorded, the owner told, the feed entry marked."""
    await add_entry(session, task, kind="done", by=by.email, body=body, now=now, channel=channel)
    task.status, task.closed_at = "done", now
    task.sequence += 1
    await queries.bump_calendar(session, now)
    owner = office.directory.person(task.owner)
    if owner is None:
        return
    language = office.config.language
    unit = office.directory.units.get(task.unit_id)
    await notices.send(session, office, notices.Notice(
        kind="task_done", unit_id=owner.home_unit, to_email=owner.email, to_name=owner.name,
        subject=text(language, "task_done_subject", title=task.title, unit=unit.name if unit else task.unit_id),
        text=text(language, "task_done_body", who=by.display, title=task.title,
                  at=now.astimezone(office.config.zone).strftime("%Y-%m-%d %H:%M"), text=body),
        message_id=f"<inkless.t{task.id}.done@{office.config.domain}>", mail_from=""), now=now)


async def ask_extension(session: AsyncSession, office: Office, task: Task, by: PersonInfo, to: date, reason: str, *,
                        now: datetime) -> None:
    """Ask the owner; their reply (同意 / 不同意) on the address made for it decides."""
    task.extension_to, task.extension_reason, task.extension_by = to, reason, by.email
    await add_entry(session, task, kind="extension_asked", by=by.email, body=f"{to.isoformat()} {reason}".strip(),
                    now=now)
    owner = office.directory.person(task.owner)
    if owner is None:
        return
    language = office.config.language
    unit = office.directory.units.get(task.unit_id)
    token = Token("reply", "x", task.id, owner.id)
    await notices.send(session, office, notices.Notice(
        kind="task_extension", unit_id=owner.home_unit, to_email=owner.email, to_name=owner.name,
        subject=text(language, "task_extension_subject", title=task.title, unit=unit.name if unit else task.unit_id),
        text=text(language, "task_extension_body", who=by.display, title=task.title, old=task.deadline.isoformat(),
                  new=to.isoformat(), reason=reason or text(language, "none")),
        message_id=office.signer.message_id(token, suffix=f"x{len(task.reminders)}{int(now.timestamp())}"),
        mail_from=office.signer.address(Token("bounce", "x", task.id, owner.id)),
        reply_to=office.signer.address(token)), now=now)


async def decide_extension(session: AsyncSession, office: Office, task: Task, *, granted: bool, comment: str | None,
                           now: datetime) -> None:
    """The owner's answer: a granted extension moves the deadline (and its reminders start over)."""
    assert task.extension_to is not None
    old, new, asker = task.deadline, task.extension_to, task.extension_by
    await add_entry(session, task, kind="extension_granted" if granted else "extension_refused", by=task.owner,
                    body=comment or "", now=now)
    if granted:
        task.deadline = new
        task.reminders = [mark for mark in task.reminders if mark.startswith("overdue:")]
        task.sequence += 1
        await queries.bump_calendar(session, now)
    task.extension_to = task.extension_reason = task.extension_by = None
    person = office.directory.person(asker) if asker else None
    if person is None:
        return
    language = office.config.language
    owner = office.directory.person(task.owner)
    key = "task_extension_granted" if granted else "task_extension_refused"
    await notices.send(session, office, notices.Notice(
        kind=key, unit_id=task.unit_id if task.unit_id in office.directory.units else person.home_unit,
        to_email=person.email, to_name=person.name, subject=text(language, f"{key}_subject", title=task.title),
        text=text(language, f"{key}_body", owner=owner.display if owner else task.owner, title=task.title,
                  old=old.isoformat(), new=new.isoformat(), comment=comment or ""),
        message_id=f"<inkless.t{task.id}.{key}.{int(now.timestamp())}@{office.config.domain}>",
        mail_from=""), now=now)


# Reminders ------------------------------------------------------------------------------

async def remind_tasks(session: AsyncSession, office: Office, *, now: datetime) -> int:
    """Before the deadline (workflow.task_remind_before working days), daily on working days
    when overdue, and once to the unit's leaders after task_escalate_after overdue days."""
    day = today(office, now)
    workflow = office.config.workflow
    rows = (await session.scalars(select(Task).where(Task.status != "done").with_for_update(skip_locked=True))).all()
    acted = 0
    for task in rows:
        marks = list(task.reminders or [])
        sent = False
        if day <= task.deadline:
            for days in sorted(set(workflow.task_remind_before), reverse=True):
                due = working_days_before(task.deadline, days)
                mark = f"before:{days}"
                if mark in marks or day < due or due < task.created_at.astimezone(office.config.zone).date():
                    continue
                marks.append(mark)
                if not sent:
                    await _send_to_unit(session, office, task, kind="task_reminder", subject_key="task_remind_subject",
                                        body=text(office.config.language, "task_remind_body", title=task.title,
                                                  deadline=task.deadline.isoformat()),
                                        now=now, suffix=f"{mark}.{task.deadline}", days=days)
                    sent = True
        elif is_workday(day):
            overdue_days = working_days_between(task.deadline, day)
            mark = f"overdue:{day.isoformat()}"
            if mark not in marks:
                marks.append(mark)
                await _send_to_unit(session, office, task, kind="task_overdue", subject_key="task_overdue_subject",
                                    body=text(office.config.language, "task_overdue_body", title=task.title,
                                              deadline=task.deadline.isoformat(), days=overdue_days),
                                    now=now, suffix=mark)
                sent = True
            if "escalated" not in marks and overdue_days >= workflow.task_escalate_after:
                marks.append("escalated")
                await _escalate(session, office, task, overdue_days, now=now)
                sent = True
        if sent:
            task.reminders = marks
            acted += 1
    return acted


async def _escalate(session: AsyncSession, office: Office, task: Task, days: int, *, now: datetime) -> None:
    language = office.config.language
    unit = office.directory.units.get(task.unit_id)
    latest = await session.scalar(select(TaskEntry.text).where(TaskEntry.task_id == task.id,
                                                               TaskEntry.kind == "progress")
                                  .order_by(TaskEntry.at.desc()).limit(1))
    owner = office.directory.person(task.owner)
    body = text(language, "task_escalate_body", title=task.title, unit=unit.name if unit else task.unit_id,
                deadline=task.deadline.isoformat(), days=days, owner=owner.display if owner else task.owner,
                latest=latest or text(language, "none"))
    subject = text(language, "task_escalate_subject", title=task.title, unit=unit.name if unit else task.unit_id)
    for leader in office.directory.leaders_above(task.unit_id, besides=task.owner):
        await notices.send(session, office, notices.Notice(
            kind="task_escalation", unit_id=task.unit_id, to_email=leader.email, to_name=leader.name,
            subject=subject, text=body, message_id=f"<inkless.t{task.id}.escalated.{leader.id}@{office.config.domain}>",
            mail_from=""), now=now)
    record(session, now=now, actor="inkless", action="task.escalated", subject_type="task", subject_id=task.id,
           detail={"overdue_days": days})
