"""`[短消息]` mail to unit addresses: a short message from the sender to those units."""

from __future__ import annotations

from inkless.chat.short import ShortMessageError, send_short_message
from inkless.handlers.answer import answer
from inkless.handlers.context import Context
from inkless.mail.reply_text import reply_text
from inkless.mail.texts import text
from inkless.storage.audit import record


class ShortMessageMail:
    """The new text of the mail (quotes and signature stripped) goes out as the short message;
    an empty or over-long one is answered with the reason and nothing is sent."""

    name = "short_message"

    async def process(self, ctx: Context) -> None:
        sender = ctx.sender
        assert sender is not None, "the sender check runs first"
        body = reply_text(ctx.message.text, ctx.message.html) or ctx.subject.title
        try:
            await send_short_message(ctx.session, ctx.office, sender, ctx.routes.units, body, source="mail",
                                     now=ctx.clock.now())
        except ShortMessageError as error:
            language = ctx.config.language
            head = (ctx.subject.title or body)[:30]
            record(ctx.session, now=ctx.clock.now(), actor=sender.email, action="short_message.refused",
                   subject_type="inbound", subject_id=ctx.inbound.id, detail={"reason": str(error)})
            await answer(ctx, sender, "short_refused", text(language, "short_refused_subject", head=head),
                                 str(error) + "\n")
