"""Check that the header From is a member allowed to write to the addressed units."""

from __future__ import annotations

from inkless.addresses import fold_address
from inkless.errors import Quarantine
from inkless.handlers.context import Context


class SenderCheck:
    """Unit mail must come from an org member, with the header From the envelope sender;
    all@ only from clerks, leaders and admins.

    The SMTP edge already refuses such mail with 550; this catches mail that arrived by
    another way (IMAP, where the envelope sender is the Return-Path the delivering server
    wrote; reprocessing after an org change).
    """

    name = "sender"

    async def process(self, ctx: Context) -> None:
        sender = ctx.message.sender
        if sender is None:
            raise Quarantine("header From is missing or names more than one address")
        person = ctx.directory.person(sender)
        if person is None:
            raise Quarantine(f"header From {sender} is not a member of the organisation")
        envelope = fold_address(ctx.inbound.mail_from or "")
        if envelope != sender:
            # Over IMAP an empty one means the mail had no Return-Path (or `<>`): nothing shows
            # who sent it, as with the null sender, which may not write to unit addresses.
            raise Quarantine(f"header From does not match the envelope sender (From {sender}, "
                             f"envelope {envelope or '<>'})")
        if "all" in ctx.routes.units and not ctx.directory.may_send_to_all(sender):
            raise Quarantine(f"{sender} may not write to all@ (clerks, leaders and admins only)")
        ctx.sender = person
