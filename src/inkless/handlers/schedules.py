"""Schedules by mail: `[日程]` mail to unit addresses is an entry on those units' schedules, or
with a `人员:` line on one person's, kept by them or by a clerk or leader of their unit."""

from __future__ import annotations

from inkless.calendar.fields import Fields
from inkless.directory import PersonInfo
from inkless.handlers.answer import answer
from inkless.handlers.context import Context
from inkless.handlers.meetings import EventMail
from inkless.mail.texts import text
from inkless.storage.audit import record


class ScheduleMail(EventMail):
    """`[日程]` mail (and calendar entries sent with it): schedule entries, no invitations."""

    kind = name = "schedule"

    async def _whose(self, ctx: Context, sender: PersonInfo, fields: Fields,
                     title: str) -> tuple[bool, PersonInfo | None]:
        """The person a `人员:` line names, if the sender may keep their schedule (else the units')."""
        who = fields.person
        if not who:
            return True, None
        language = ctx.config.language
        person = ctx.directory.person(who) or next(
            (p for p in ctx.directory.everyone() if p.name and p.name == who.strip()), None)
        reason = None
        if person is None:
            reason = text(language, "schedule_for_stranger", who=who)
        elif not may_keep_schedule(sender, person):
            reason = text(language, "schedule_not_allowed", who=person.display)
        if reason is not None:
            record(ctx.session, now=ctx.clock.now(), actor=sender.email, action="event.refused",
                   subject_type="inbound", subject_id=ctx.inbound.id, detail={"reason": reason})
            await answer(ctx, sender, "event_refused", text(language, "event_refused_subject", title=title),
                         text(language, "event_refused_body", reason=reason))
            return False, None
        return True, person


def may_keep_schedule(editor: PersonInfo, person: PersonInfo) -> bool:
    """The person, or a clerk, leader or admin of one of their units (a leader's secretary)."""
    if editor.email == person.email or "admin" in editor.roles:
        return True
    return any(editor.roles_in(unit) & {"clerk", "leader", "admin"} for unit in person.units)
