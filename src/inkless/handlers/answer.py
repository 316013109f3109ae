"""Answer a person's mail automatically (a refusal, a question back), within the hourly cap."""

from __future__ import annotations

from inkless import notices
from inkless.directory import PersonInfo
from inkless.handlers.context import Context
from inkless.storage.audit import record
from inkless.tokens import Token


async def answer(ctx: Context, to: PersonInfo, kind: str, subject: str, body: str, token: Token | None = None) -> None:
    """An automatic answer to a person's mail, within the hourly cap (then only audited)."""
    now = ctx.clock.now()
    if not await notices.may_answer(ctx.session, to.email, kind=kind, now=now,
                                    limit=ctx.config.workflow.auto_answer_limit):
        record(ctx.session, now=now, actor="inkless", action="answer.capped", subject_type="inbound",
               subject_id=ctx.inbound.id, detail={"to": to.email, "kind": kind})
        return
    await notices.send(ctx.session, ctx.office, notices.Notice(
        kind=kind, unit_id=to.home_unit, to_email=to.email, to_name=to.name, subject=subject, text=body,
        message_id=f"<inkless.in{ctx.inbound.id}.{kind}@{ctx.config.domain}>", mail_from="",
        reply_to=ctx.signer.address(token) if token else None, references=ctx.message.message_id,
        auto_replied=True), now=now)
