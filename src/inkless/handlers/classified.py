"""Classified documents never travel through Inkless (SPEC §2.9): the SMTP edge refuses them
before they are stored; this catches those that came another way (IMAP, where there is no
SMTP answer; a revision sent as a reply), which are quarantined with the reason, and tells
the sender where they go."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from inkless import notices
from inkless.errors import Quarantine
from inkless.handlers.context import Context
from inkless.mail.classified import REASON, marking
from inkless.mail.texts import text


def refuse_if_classified(ctx: Context, subject: str, body: str, html_body: str | None = None) -> None:
    """Quarantine (and tell the sender, within the hourly cap of automatic answers) when this
    subject or text carries a classification mark."""
    level = marking(subject, body, html_body)
    if level is None:
        return
    sender = ctx.message.sender
    person = ctx.directory.person(sender) if sender else None
    units = [unit for unit in ctx.routes.units if unit in ctx.directory.units]
    told_from = person.home_unit if person else (units[0] if units else None)
    office, now, config = ctx.office, ctx.clock.now(), ctx.config
    title = ctx.subject.title[:200]
    message_id = f"<inkless.in{ctx.inbound_id}.classified@{config.domain}>"
    known = person is not None or (sender is not None and ctx.directory.external_organ(sender) is not None)

    async def tell(session: AsyncSession) -> None:
        if sender is None or told_from is None or not known:
            return
        if not await notices.may_answer(session, sender, kind="classified_refused", now=now,
                                        limit=config.workflow.auto_answer_limit):
            return
        await notices.send(session, office, notices.Notice(
            kind="classified_refused", unit_id=told_from, to_email=sender, to_name=person.name if person else None,
            subject=text(config.language, "classified_subject", title=title),
            text=text(config.language, "classified_body", title=title, level=level), message_id=message_id,
            mail_from="", references=ctx.message.message_id, auto_replied=True), now=now)

    raise Quarantine(f"{REASON} (marked {level})", tell=tell)


class ClassifiedCheck:
    """Mail to unit addresses marked 秘密 / 机密 / 绝密 is quarantined, never distributed."""

    name = "classified"

    async def process(self, ctx: Context) -> None:
        refuse_if_classified(ctx, ctx.message.subject, ctx.message.text, ctx.message.html)
