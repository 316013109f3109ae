"""Answer a person's mail automatically (a refusal, a question back), within the hourly cap."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from inkless import notices
from inkless.directory import PersonInfo
from inkless.handlers.context import Context
from inkless.storage.audit import record
from inkless.tokens import Token


async def answer(ctx: Context, to: PersonInfo, kind: str, subject: str, body: str, token: Token | None = None,
                 *, session: AsyncSession | None = None) -> None:
    """An automatic answer to a person's mail, within the hourly cap (then only audited); in
    `session` when given (the transaction that records a discard or quarantine), else the message's."""
    now = ctx.clock.now()
    inbound_id = ctx.inbound_id
    session = session or ctx.session
    if not await notices.may_answer(session, to.email, kind=kind, now=now,
                                    limit=ctx.config.workflow.auto_answer_limit):
        record(session, now=now, actor="inkless", action="answer.capped", subject_type="inbound",
               subject_id=inbound_id, detail={"to": to.email, "kind": kind})
        return
    await notices.send(session, ctx.office, notices.Notice(
        kind=kind, unit_id=to.home_unit, to_email=to.email, to_name=to.name, subject=subject, text=body,
        message_id=f"<inkless.in{inbound_id}.{kind}@{ctx.config.domain}>", mail_from="",
        reply_to=ctx.signer.address(token) if token else None, references=ctx.message.message_id,
        auto_replied=True), now=now)
