"""Supervision tasks by mail: `[督办]` mail assigns; members' replies report; the owner decides extensions."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from inkless.calendar.fields import read_fields
from inkless.calendar.when import WhenError, parse_when
from inkless.directory import PersonInfo
from inkless.errors import Discard, Quarantine
from inkless.handlers.answer import answer
from inkless.handlers.authorship import check_reply
from inkless.handlers.context import Context
from inkless.mail.reply_text import reply_text
from inkless.mail.texts import text
from inkless.mail.verdict import read_verdict, why_unclear
from inkless.storage.audit import record
from inkless.storage.models import Task
from inkless.tasks import core
from inkless.tokens import Token

PROGRESS = ("进展", "进度", "progress")
DONE = ("已办结", "已完成", "办结", "完成", "done", "completed", "finished")
EXTEND = ("申请延期", "延期", "extend", "extension")
_SEPARATORS = " \t:：,，。.;；-—"
_REASON = re.compile(r"^(?:原因|理由|reason)\s*[:：]?\s*", re.IGNORECASE)
_DATE = re.compile(r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*[日号]?|\d{1,2}\s*月\s*\d{1,2}\s*[日号]?")


class TaskMail:
    """`[督办]` mail to unit addresses: one task per unit, due on the 期限 line."""

    name = "task"

    async def process(self, ctx: Context) -> None:
        sender = ctx.sender
        assert sender is not None, "the sender check runs first"
        fields = read_fields(ctx.message.text)
        title = ctx.subject.title or ctx.message.subject
        deadline = await read_deadline(ctx, sender, fields.deadline, fields.deadline_line, title)
        if deadline is None:
            return
        await core.assign(ctx.session, ctx.office, core.TaskDraft(
            title=title, deadline=deadline, requirements=fields.requirements, body=fields.rest,
            inbound_id=ctx.inbound.id), sender, ctx.routes.units, now=ctx.clock.now())


async def read_deadline(ctx: Context, sender: PersonInfo, value: str | None, line: str | None,
                        title: str) -> date | None:
    """The deadline's date, or None after telling the sender which line could not be read."""
    language, now = ctx.config.language, ctx.clock.now()
    if value is None:
        shown, reason = text(language, "task_missing_deadline"), "no deadline line"
    else:
        try:
            return parse_when(value, zone=ctx.config.zone, today=now.astimezone(ctx.config.zone).date()).start.date()
        except WhenError as error:
            shown, reason = line or value, str(error)
    record(ctx.session, now=now, actor=sender.email, action="task.unreadable", subject_type="inbound",
           subject_id=ctx.inbound.id, detail={"line": shown, "reason": reason})
    await answer(ctx, sender, "task_unreadable", text(language, "task_unreadable_subject", title=title),
                         text(language, "task_unreadable_body", line=shown, reason=reason))
    return None


def _starts(line: str, words: tuple[str, ...]) -> str | None:
    """The rest of the line, as written, when it starts with one of the words (matched with
    full-width letters read as ASCII), else None."""
    normalized = unicodedata.normalize("NFKC", line)
    lowered = normalized.lower()
    for word in sorted(words, key=len, reverse=True):
        if lowered.startswith(word):
            # NFKC keeps the length of full-width forms, so the original rest is at the same place.
            rest = line[len(word):] if len(normalized) == len(line) else normalized[len(word):]
            return rest.lstrip(_SEPARATORS)
    return None


async def handle_member_reply(ctx: Context, token: Token) -> None:
    """进展：… adds progress; 办结 / 完成 closes (the owner is told); 申请延期 DATE 原因 asks the owner."""
    session, now, language = ctx.session, ctx.clock.now(), ctx.config.language
    task = await session.get(Task, token.item, with_for_update=True)
    person = ctx.directory.person_by_id(token.person)
    if task is None or person is None or person not in core.members(ctx.office, task):
        raise Quarantine(f"token names no task {token.item} of this member")
    author = check_reply(ctx, person.email, f"task {task.id}")
    new_text = reply_text(ctx.message.text, ctx.message.html)
    lines = [line.strip() for line in new_text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    rest = "\n".join(lines[1:])
    reply_token = Token("reply", "t", task.id, person.id)
    if task.status == "done":
        await core.add_entry(session, task, kind="progress", by=author, body=new_text.strip(), now=now)
        at = (task.closed_at or now).astimezone(ctx.config.zone).strftime("%Y-%m-%d %H:%M")
        await answer(ctx, person, "task_closed", text(language, "task_closed_subject", title=task.title),
                             text(language, "task_closed_body", title=task.title, at=at), reply_token)
        return
    if (found := _starts(first, EXTEND)) is not None:
        match = _DATE.search(found)
        asked = None
        if match is not None:
            try:
                asked = parse_when(match.group(0), zone=ctx.config.zone,
                                   today=now.astimezone(ctx.config.zone).date()).start.date()
            except WhenError:
                asked = None
        if asked is not None and asked > task.deadline:
            said = _REASON.sub("", found[match.end():].strip(_SEPARATORS)) if match else ""
            reason = "\n".join(part for part in (said, rest) if part)
            await core.ask_extension(session, ctx.office, task, person, asked, reason, now=now)
            return
    elif (found := _starts(first, PROGRESS)) is not None:
        await core.report_progress(session, task, author, "\n".join(p for p in (found, rest) if p), now=now)
        return
    elif (found := _starts(first, DONE)) is not None:
        await core.close(session, ctx.office, task, person, "\n".join(p for p in (found, rest) if p), now=now)
        return
    record(session, now=now, actor=author, action="task.unclear", subject_type="task", subject_id=task.id,
           detail={"inbound": ctx.inbound.id, "first_line": lines[0] if lines else ""})
    await answer(ctx, person, "task_clarification", text(language, "task_unclear_subject", title=task.title),
                         text(language, "task_unclear_body", line=(lines[0] if lines else "")[:200]), reply_token)


async def handle_owner_reply(ctx: Context, token: Token) -> None:
    """The owner's 同意 / 不同意 on an extension request; anything unclear is asked again."""
    session, now, language = ctx.session, ctx.clock.now(), ctx.config.language
    task = await session.get(Task, token.item, with_for_update=True)
    owner = ctx.directory.person(task.owner) if task is not None else None
    if task is None or owner is None or owner.id != token.person:
        raise Quarantine(f"token names no task {token.item} of this owner")
    check_reply(ctx, task.owner, f"task {task.id}")
    if task.extension_to is None:
        raise Discard(f"no extension of task {task.id} is waiting for a decision")
    verdict = read_verdict(reply_text(ctx.message.text, ctx.message.html))
    if verdict.decision is None:
        await answer(ctx, owner, "clarification", text(language, "unclear_subject", title=task.title),
                             text(language, "unclear_body", line=verdict.first_line[:200],
                                  why=why_unclear(language, verdict)), token)
        return
    await core.decide_extension(session, ctx.office, task, granted=verdict.decision == "approve",
                                comment=verdict.comment, now=now)
